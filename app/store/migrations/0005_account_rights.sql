-- Sign-in and membership rights.
--
-- invites.emailed: the accept link reached the address by email, so holding
-- it proves control of the address. A link handed out by hand (local mode, a
-- failed send) proves nothing: accepting it makes an unverified account.
ALTER TABLE invites ADD COLUMN emailed boolean NOT NULL DEFAULT false;

-- Who disabled an agent, and whether they managed the team then: only a
-- manager may re-enable (or rotate) a key a manager disabled.
ALTER TABLE agents ADD COLUMN disabled_by text;
ALTER TABLE agents ADD COLUMN disabled_by_manager boolean NOT NULL DEFAULT false;
