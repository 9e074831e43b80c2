-- Privileges, as a superuser sees them: GRANT / REVOKE on a table, role membership, the access
-- list in pg_class, information_schema.table_privileges, has_table_privilege, and the errors of
-- impossible grants. The table is given to a role first, so that both servers show the same
-- owner. Roles are cluster-wide: the file removes the ones it makes, before and after.
DROP ROLE IF EXISTS pd_owner, pd_reader, pd_writer;
CREATE ROLE pd_owner;
CREATE ROLE pd_reader;
CREATE ROLE pd_writer LOGIN;
CREATE TABLE pd_t (id int PRIMARY KEY, v text);
ALTER TABLE pd_t OWNER TO pd_owner;
SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'pd_t';
GRANT SELECT ON pd_t TO pd_reader;
GRANT INSERT, UPDATE ON pd_t TO pd_writer WITH GRANT OPTION;
GRANT pd_reader TO pd_writer;
SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'pd_t';
SELECT grantor, grantee, privilege_type, is_grantable, with_hierarchy FROM information_schema.table_privileges WHERE table_name = 'pd_t' ORDER BY grantee, privilege_type;
SELECT has_table_privilege('pd_writer', 'pd_t', 'SELECT'), has_table_privilege('pd_writer', 'pd_t', 'INSERT WITH GRANT OPTION'), has_table_privilege('pd_reader', 'pd_t', 'UPDATE'), has_table_privilege('pd_owner', 'pd_t', 'DELETE');
SELECT r.rolname AS role, m.rolname AS member FROM pg_auth_members a JOIN pg_roles r ON a.roleid = r.oid JOIN pg_roles m ON a.member = m.oid WHERE r.rolname LIKE 'pd_%' ORDER BY 1, 2;
REVOKE UPDATE ON pd_t FROM pd_writer;
SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'pd_t';
GRANT ALL ON pd_t TO PUBLIC;
SELECT relacl::text FROM pg_class WHERE relname = 'pd_t';
SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'pd_t';
REVOKE ALL PRIVILEGES ON TABLE pd_t FROM PUBLIC;
REVOKE pd_reader FROM pd_writer;
SELECT count(*) FROM pg_auth_members a JOIN pg_roles r ON a.roleid = r.oid WHERE r.rolname LIKE 'pd_%';
SELECT array_to_string(relacl, ',') FROM pg_class WHERE relname = 'pd_t';

-- what cannot be granted
GRANT USAGE ON pd_t TO pd_reader;
GRANT SELECT ON pd_missing TO pd_reader;
GRANT SELECT ON pd_t TO pd_nobody;
GRANT pd_reader TO pd_reader;
GRANT pd_writer TO pd_reader;
GRANT pd_reader TO pd_writer;
DROP ROLE pd_reader;
REVOKE SELECT ON pd_t FROM pd_reader;
REVOKE pd_reader FROM pd_writer;
DROP TABLE pd_t;
DROP ROLE pd_owner, pd_reader, pd_writer;
