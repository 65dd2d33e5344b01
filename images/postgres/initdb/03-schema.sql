-- The schema every service expects from its first start: settings the API reads when it boots.
CREATE TABLE IF NOT EXISTS app_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
ALTER TABLE app_settings OWNER TO app;
