-- Names, emails and cards: invented, and derived from an entity's id alone.
-- Functions declared immutable use only immutable operators (hence the casts
-- to text): otherwise PostgreSQL does not inline them, and calls them once per
-- row instead, which is many times slower.

create function pg_temp.first_names()
returns text[]
language sql immutable parallel safe
as $$
    select array[
        'Alex', 'Avery', 'Blake', 'Casey', 'Dana', 'Drew', 'Elliot', 'Emery',
        'Finley', 'Gray', 'Harper', 'Hayden', 'Indy', 'Jamie', 'Jesse',
        'Jordan', 'Kai', 'Kendall', 'Lane', 'Logan', 'Milan', 'Morgan', 'Nico',
        'Noel', 'Oakley', 'Parker', 'Quinn', 'Reese', 'Riley', 'Rowan', 'Sam',
        'Sawyer', 'Skyler', 'Taylor', 'Val', 'Wren'
    ]
$$;

create function pg_temp.last_names()
returns text[]
language sql immutable parallel safe
as $$
    select array[
        'Abbott', 'Barlow', 'Bishop', 'Calloway', 'Castillo', 'Delgado',
        'Dorsey', 'Ellison', 'Everett', 'Fairbanks', 'Fontaine', 'Galloway',
        'Hollis', 'Ingram', 'Jarvis', 'Kincaid', 'Lockhart', 'Mercer',
        'Navarro', 'Oakes', 'Pruitt', 'Quintero', 'Rasmussen', 'Sinclair',
        'Thornton', 'Underwood', 'Vance', 'Whitaker', 'Yates', 'Zamora'
    ]
$$;

create function pg_temp.card_sets()
returns text[]
language sql immutable parallel safe
as $$
    select array[
        'Prime Diamond', 'Heritage Gold', 'Chrome Rookies', 'Stadium Legends',
        'Midnight Prizm', 'Golden Era', 'Dynasty Select', 'Court Kings',
        'Gridiron Elite', 'Rookie Flash', 'Hall of Fame Classics', 'Base Set',
        'Jungle Expansion', 'Fossil Expansion', 'Retro Refractors', 'Topline'
    ]
$$;

create function pg_temp.email_domains()
returns text[]
language sql immutable parallel safe
as $$
    select array[
        'mail.example.com', 'inbox.example.net', 'post.example.org',
        'example.com', 'example.net', 'example.org'
    ]
$$;

create function pg_temp.first_name(seed bigint, user_id bigint)
returns text
language sql immutable parallel safe
as $$
    select pg_temp.pick(pg_temp.first_names(), pg_temp.rnd(seed, 161, user_id))
$$;

create function pg_temp.last_name(seed bigint, user_id bigint)
returns text
language sql immutable parallel safe
as $$
    select pg_temp.pick(pg_temp.last_names(), pg_temp.rnd(seed, 162, user_id))
$$;

-- kind: 'customer', 'staff' (the company's domain) or 'test' (@example.test).
create function pg_temp.user_email(seed bigint, user_id bigint, kind text)
returns text
language sql immutable parallel safe
as $$
    select
        lower(pg_temp.first_name(seed, user_id)) || '.'
        || lower(pg_temp.last_name(seed, user_id))
        || cast(user_id as text) || '@'
        || case kind
            when 'staff' then 'slabhouse.example.com'
            when 'test' then 'example.test'
            else pg_temp.pick(
                pg_temp.email_domains(), pg_temp.rnd(seed, 163, user_id)
            )
        end
$$;

-- A short name at sign-up; an edited profile spells the last name out.
create function pg_temp.display_name(
    seed bigint, user_id bigint, is_edited boolean
)
returns text
language sql immutable parallel safe
as $$
    select
        pg_temp.first_name(seed, user_id) || ' '
        || case
            when is_edited then pg_temp.last_name(seed, user_id)
            else left(pg_temp.last_name(seed, user_id), 1) || '.'
        end
$$;

-- A card's year, set, player and grade; `stream` tells the vault's cards (340)
-- from the cards typed into collections (440).
create function pg_temp.card_year(seed bigint, stream integer, item_id bigint)
returns integer
language sql immutable parallel safe
as $$
    select
        1950
        + cast(floor(76 * sqrt(pg_temp.rnd(seed, stream, item_id))) as integer)
$$;

create function pg_temp.card_set(seed bigint, stream integer, item_id bigint)
returns text
language sql immutable parallel safe
as $$
    select
        pg_temp.pick(
            pg_temp.card_sets(), pg_temp.rnd(seed, stream + 1, item_id)
        )
$$;

create function pg_temp.card_player(
    seed bigint, stream integer, item_id bigint
)
returns text
language sql immutable parallel safe
as $$
    select
        pg_temp.pick(
            pg_temp.first_names(), pg_temp.rnd(seed, stream + 2, item_id)
        )
        || ' '
        || pg_temp.pick(
            pg_temp.last_names(), pg_temp.rnd(seed, stream + 3, item_id)
        )
$$;

-- Grades 4.5 to 10 in half steps, mostly high.
create function pg_temp.card_grade(seed bigint, stream integer, item_id bigint)
returns numeric
language sql immutable parallel safe
as $$
    select
        trim_scale(
            cast(
                10 - 0.5 * floor(
                    power(pg_temp.rnd(seed, stream + 4, item_id), 2) * 12
                )
                as numeric
            )
        )
$$;

create function pg_temp.card_title(
    seed bigint, stream integer, item_id bigint, is_graded boolean
)
returns text
language sql immutable parallel safe
as $$
    select
        cast(pg_temp.card_year(seed, stream, item_id) as text) || ' '
        || pg_temp.card_set(seed, stream, item_id) || ' '
        || pg_temp.card_player(seed, stream, item_id)
        || case
            when is_graded
                then
                    ' (grade '
                    || cast(pg_temp.card_grade(seed, stream, item_id) as text)
                    || ')'
            else ''
        end
$$;

-- Vault cards: the keys drift one day after go-live ("set" becomes "set_name");
-- later cards carry the grade as a JSON string 30 percent of the time and lack
-- it 5 percent of the time.
create function pg_temp.vault_card(
    seed bigint,
    vault_item_id bigint,
    created_at timestamptz,
    go_live timestamptz
)
returns jsonb
language sql stable parallel safe
as $$
    select case
        when created_at < go_live + interval '24 hours'
            then jsonb_build_object(
                'year', pg_temp.card_year(seed, 340, vault_item_id),
                'set', pg_temp.card_set(seed, 340, vault_item_id),
                'player', pg_temp.card_player(seed, 340, vault_item_id),
                'grade', pg_temp.card_grade(seed, 340, vault_item_id)
            )
        else jsonb_build_object(
            'year', pg_temp.card_year(seed, 340, vault_item_id),
            'set_name', pg_temp.card_set(seed, 340, vault_item_id),
            'player', pg_temp.card_player(seed, 340, vault_item_id)
        ) || case
            when pg_temp.rnd(seed, 351, vault_item_id) < 0.05
                then cast('{}' as jsonb)
            when pg_temp.rnd(seed, 352, vault_item_id) < 0.3
                then jsonb_build_object(
                    'grade',
                    cast(pg_temp.card_grade(seed, 340, vault_item_id) as text)
                )
            else jsonb_build_object(
                'grade', pg_temp.card_grade(seed, 340, vault_item_id)
            )
        end
    end
$$;
