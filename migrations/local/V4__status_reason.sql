-- Why an observation's status was set by hand (entered-in-error needs a
-- reason). Free text, kept like every other clinical column inside the
-- encrypted file. Numbered 4: 3 holds the session tables.
ALTER TABLE observations ADD COLUMN status_reason TEXT;
