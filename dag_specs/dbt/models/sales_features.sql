-- Calendar and recent-demand features per store and day. Lags look strictly backwards,
-- so a row never sees its own or a later day's units.
select
    store || '|' || cast(day as varchar) as sales_key,
    day,
    store,
    units_sold,
    price,
    promo,
    dayofweek(day) as day_of_week,
    month(day) as month,
    lag(units_sold, 1) over (partition by store order by day) as units_lag_1,
    lag(units_sold, 7) over (partition by store order by day) as units_lag_7,
    avg(units_sold) over (
        partition by store order by day rows between 7 preceding and 1 preceding
    ) as units_mean_7
from {{ ref('stg_sales') }}
