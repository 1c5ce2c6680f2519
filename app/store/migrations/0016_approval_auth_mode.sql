-- The X-TAP-Auth-Mode an agent asked for is part of the request a human
-- approves: an oauth1 credential with a bearer token sends a request as the
-- app (bearer) or as the user (signed), and "auto" picks by method. The mode
-- is stored with the parked request and forwarded as asked. Rows parked
-- before this migration were forwarded as "auto", and still are.

ALTER TABLE approvals
    ADD COLUMN auth_mode text NOT NULL DEFAULT 'auto'
        CHECK (auth_mode IN ('auto', 'bearer', 'oauth1'));
