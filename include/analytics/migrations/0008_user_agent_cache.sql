-- Enrichment: parsed user agents kept across runs, so a string is parsed once ever rather than once per
-- hourly run (all-distinct traffic is parse-bound). Keyed on md5(ua): a user agent may be longer than a
-- btree entry allows. `parser` identifies the code that parsed the row (ua-parser, its regexes and our
-- mapping); a row from another parser is parsed again and replaced.
CREATE TABLE analytics.user_agents (
    ua_md5           uuid        PRIMARY KEY,
    ua               text        NOT NULL,
    parser           text        NOT NULL,
    browser_name     text,
    browser_version  text,
    os_name          text,
    os_version       text,
    device_type      text,
    device_brand     text,
    device_model     text,
    is_bot           boolean     NOT NULL DEFAULT false,
    parsed_at        timestamptz NOT NULL DEFAULT now()
);
