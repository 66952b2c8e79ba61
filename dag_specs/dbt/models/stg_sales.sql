-- One row per store and day, typed the same way on DuckDB and Snowflake.
select
    cast(day as date) as day,
    store,
    cast(units_sold as integer) as units_sold,
    cast(price as double) as price,
    cast(promo as integer) as promo
from {{ source('warehouse', 'sales') }}
