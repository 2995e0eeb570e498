-- Search reads the given-name index's matching range without touching a row
-- (issue 18): the index carries the family name for the result order, and
-- holds only rows that are not deleted, which is all search ever shows.
-- It replaces the index on the given name alone.
DROP INDEX patients_by_given_name;
CREATE INDEX patients_live_by_given_name ON patients (given_name, family_name) WHERE deleted = 0;
