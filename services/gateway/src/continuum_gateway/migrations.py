"""The gateway's own tables (schema ``gateway``), besides its projections."""

from continuum.runtime import Migration

MIGRATIONS = (
    Migration(
        1,
        "API tokens and registered publisher keys",
        """
        CREATE TABLE api_tokens (
            id uuid PRIMARY KEY,
            name text NOT NULL,
            scopes text[] NOT NULL,
            hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz,
            last_used_at timestamptz
        );
        CREATE TABLE publisher_keys (
            key_id text PRIMARY KEY,
            name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            revoked_at timestamptz
        );
        """,
    ),
    Migration(
        2,
        "One-time sign-in links for the web app",
        """
        CREATE TABLE signin_links (
            hash bytea PRIMARY KEY,
            name text NOT NULL,
            scopes text[] NOT NULL,
            created_by uuid NOT NULL,
            expires_at timestamptz NOT NULL,
            used_at timestamptz
        );
        """,
    ),
)
