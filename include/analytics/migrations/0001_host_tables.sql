-- The host application's domain tables that events refer to. Small on purpose.
CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE app.users (
    id          text PRIMARY KEY,
    email       text NOT NULL UNIQUE,
    name        text NOT NULL,
    role        text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'creator', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.projects (
    id          text PRIMARY KEY,
    owner_id    text NOT NULL REFERENCES app.users (id),
    name        text NOT NULL,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'archived')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.assets (
    id          text PRIMARY KEY,
    owner_id    text NOT NULL REFERENCES app.users (id),
    project_id  text REFERENCES app.projects (id),
    title       text NOT NULL,
    media_type  text NOT NULL CHECK (media_type IN ('image', 'video', 'audio', 'document', 'model')),
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    size_bytes  bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.licenses (
    id            text PRIMARY KEY,
    asset_id      text NOT NULL REFERENCES app.assets (id),
    licensee_id   text NOT NULL REFERENCES app.users (id),
    license_type  text NOT NULL CHECK (license_type IN ('standard', 'extended', 'exclusive', 'editorial')),
    price_cents   bigint NOT NULL CHECK (price_cents >= 0),
    currency      char(3) NOT NULL DEFAULT 'USD',
    territory     text NOT NULL DEFAULT 'worldwide',
    status        text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'signed', 'revoked', 'expired')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE app.payouts (
    id            text PRIMARY KEY,
    user_id       text NOT NULL REFERENCES app.users (id),
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    currency      char(3) NOT NULL DEFAULT 'USD',
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'completed', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
