{#- Rows whose value lies outside [min_value, max_value]; a bound left out is not checked.
    Written here so the project needs no package download (dbt_utils has the same test). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where 1 = 0
{%- if min_value is not none %}
    or {{ column_name }} < {{ min_value }}
{%- endif %}
{%- if max_value is not none %}
    or {{ column_name }} > {{ max_value }}
{%- endif %}
{% endtest %}
