{#
    Every non-null value is a JSON object. Keys read from anything else (a
    list, a number, JSON text stored inside a JSON string) come out null, so
    the rows still flow; this test counts them.
#}
{% test json_object(model, column_name) %}

select {{ column_name }} as not_an_object
from {{ model }}
where
    {{ column_name }} is not null
    and {{ json_type(column_name) }} != 'object'

{% endtest %}
