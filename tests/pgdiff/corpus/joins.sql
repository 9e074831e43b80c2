-- Joins: inner, outer, cross, USING, NATURAL, self joins, join conditions on expressions,
-- multi-way joins, and the errors an application meets.
CREATE TABLE departments (dept_id int PRIMARY KEY, name text NOT NULL, location text);
CREATE TABLE employees (emp_id int PRIMARY KEY, name text NOT NULL, dept_id int, manager_id int, salary numeric(10,2), bonus int);
CREATE TABLE projects (proj_id int PRIMARY KEY, dept_id int, title text, budget bigint);
CREATE TABLE assignments (emp_id int, proj_id int, hours int);
CREATE TABLE empty_t (id int, dept_id int);
INSERT INTO departments VALUES (1, 'Engineering', 'Berlin'), (2, 'Sales', 'Paris'), (3, 'Support', NULL), (4, 'Legal', 'Berlin');
INSERT INTO employees VALUES
  (1, 'Alice', 1, NULL, 9000.00, 500),
  (2, 'Bob', 1, 1, 7000.50, NULL),
  (3, 'Carol', 2, 1, 6500.00, 200),
  (4, 'Dave', 2, 3, 6500.00, -50),
  (5, 'Eve', NULL, 1, 5000.25, 0),
  (6, 'Frank', 3, 4, NULL, 100),
  (7, 'Grace', 9, NULL, 4000.00, NULL);
INSERT INTO projects VALUES (10, 1, 'Compiler', 100000), (11, 1, 'Storage', 250000), (12, 2, 'Outreach', 5000), (13, NULL, 'Orphan', 0), (14, 5, 'Ghost', -10);
INSERT INTO assignments VALUES (1, 10, 40), (2, 10, 20), (2, 11, 20), (3, 12, 35), (4, 12, NULL), (5, 13, 10), (1, 10, 5), (8, 99, 1);

-- inner joins
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id ORDER BY e.emp_id;
SELECT e.name, d.name FROM employees e INNER JOIN departments d ON e.dept_id = d.dept_id;
SELECT e.name, d.name FROM employees e, departments d WHERE e.dept_id = d.dept_id ORDER BY e.emp_id;
SELECT * FROM employees e JOIN departments d ON e.dept_id = d.dept_id ORDER BY e.emp_id;
SELECT e.*, d.location FROM employees e JOIN departments d ON d.dept_id = e.dept_id ORDER BY e.emp_id;
SELECT d.*, e.name FROM departments d JOIN employees e ON d.dept_id = e.dept_id AND e.salary > 6000 ORDER BY d.dept_id, e.name;
SELECT e.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id WHERE d.location = 'Berlin' ORDER BY 1;
SELECT count(*) FROM employees e JOIN departments d ON true;
SELECT count(*) FROM employees e JOIN departments d ON false;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id AND d.location IS NULL;

-- left joins
SELECT e.name, d.name AS dept FROM employees e LEFT JOIN departments d ON e.dept_id = d.dept_id ORDER BY e.emp_id;
SELECT e.name, d.name AS dept FROM employees e LEFT OUTER JOIN departments d ON e.dept_id = d.dept_id ORDER BY e.emp_id;
SELECT e.name FROM employees e LEFT JOIN departments d ON e.dept_id = d.dept_id WHERE d.dept_id IS NULL ORDER BY e.name;
SELECT d.name, count(e.emp_id) FROM departments d LEFT JOIN employees e ON e.dept_id = d.dept_id GROUP BY d.dept_id, d.name ORDER BY d.dept_id;
SELECT d.name, count(*) FROM departments d LEFT JOIN employees e ON e.dept_id = d.dept_id GROUP BY d.name ORDER BY d.name;
SELECT e.name, d.name FROM employees e LEFT JOIN departments d ON e.dept_id = d.dept_id AND d.location = 'Berlin' ORDER BY e.emp_id;
SELECT e.name, d.name FROM employees e LEFT JOIN departments d ON e.dept_id = d.dept_id WHERE d.location = 'Berlin' ORDER BY e.emp_id;
SELECT d.name, coalesce(sum(e.salary), 0) AS total FROM departments d LEFT JOIN employees e USING (dept_id) GROUP BY d.name ORDER BY total DESC, d.name;
SELECT d.dept_id, e.emp_id FROM departments d LEFT JOIN empty_t x ON x.dept_id = d.dept_id LEFT JOIN employees e ON e.dept_id = d.dept_id ORDER BY d.dept_id, e.emp_id;
SELECT e.name, x.id FROM employees e LEFT JOIN empty_t x ON true ORDER BY e.emp_id;

-- right joins
SELECT e.name, d.name FROM employees e RIGHT JOIN departments d ON e.dept_id = d.dept_id ORDER BY d.dept_id, e.emp_id;
SELECT d.name FROM employees e RIGHT OUTER JOIN departments d ON e.dept_id = d.dept_id WHERE e.emp_id IS NULL;
SELECT p.title, d.name FROM departments d RIGHT JOIN projects p ON p.dept_id = d.dept_id ORDER BY p.proj_id;

-- full joins
SELECT e.name, d.name FROM employees e FULL JOIN departments d ON e.dept_id = d.dept_id;
SELECT e.emp_id, d.dept_id FROM employees e FULL OUTER JOIN departments d ON e.dept_id = d.dept_id ORDER BY e.emp_id NULLS FIRST, d.dept_id;
SELECT coalesce(e.dept_id, d.dept_id) AS k, e.name, d.name FROM employees e FULL JOIN departments d ON e.dept_id = d.dept_id WHERE e.emp_id IS NULL OR d.dept_id IS NULL ORDER BY k, e.name;
SELECT dept_id, e.name, d.name FROM employees e FULL JOIN departments d USING (dept_id) ORDER BY dept_id NULLS LAST, e.name;
SELECT count(*), count(e.emp_id), count(d.dept_id) FROM employees e FULL JOIN departments d ON e.dept_id = d.dept_id;
SELECT * FROM empty_t a FULL JOIN empty_t b ON a.id = b.id;
SELECT d.name, x.id FROM departments d FULL JOIN empty_t x ON x.dept_id = d.dept_id ORDER BY d.dept_id;

-- cross joins
SELECT d.name, p.title FROM departments d CROSS JOIN projects p ORDER BY d.dept_id, p.proj_id;
SELECT count(*) FROM departments, projects, employees;
SELECT count(*) FROM departments CROSS JOIN empty_t;
SELECT a.n, b.n FROM (VALUES (1), (2)) a(n) CROSS JOIN (VALUES (10), (20), (30)) b(n) ORDER BY a.n, b.n;

-- USING and NATURAL
SELECT * FROM employees JOIN departments USING (dept_id) ORDER BY emp_id;
SELECT dept_id, employees.name FROM employees JOIN departments USING (dept_id) ORDER BY emp_id;
SELECT employees.dept_id, departments.dept_id FROM employees JOIN departments USING (dept_id) ORDER BY emp_id;
SELECT * FROM employees LEFT JOIN departments USING (dept_id) ORDER BY emp_id;
SELECT * FROM projects NATURAL JOIN departments ORDER BY proj_id;
SELECT * FROM assignments NATURAL JOIN projects ORDER BY emp_id, proj_id, hours;
SELECT * FROM employees NATURAL JOIN departments ORDER BY emp_id;
SELECT * FROM assignments NATURAL LEFT JOIN projects ORDER BY emp_id, proj_id, hours NULLS FIRST;
SELECT emp_id, proj_id, title FROM assignments JOIN projects USING (proj_id) JOIN employees USING (emp_id) ORDER BY emp_id, proj_id, hours;
SELECT x.dept_id FROM employees x JOIN departments y USING (dept_id) AS j WHERE j.dept_id = 2 ORDER BY x.emp_id;
SELECT j.dept_id FROM employees JOIN departments USING (dept_id) AS j ORDER BY 1;
SELECT j.dept_id, j.name FROM employees JOIN departments USING (dept_id) AS j ORDER BY 1;
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) l(k, v) NATURAL FULL JOIN (VALUES (2, 'b'), (3, 'c')) r(k, v) ORDER BY k;
SELECT * FROM (VALUES (1, 'a'), (2, 'b')) l(k, v) FULL JOIN (VALUES (2, 'x'), (3, 'c')) r(k, w) USING (k) ORDER BY k;

-- self joins
SELECT e.name AS employee, m.name AS manager FROM employees e LEFT JOIN employees m ON e.manager_id = m.emp_id ORDER BY e.emp_id;
SELECT e.name FROM employees e JOIN employees m ON e.manager_id = m.emp_id WHERE e.salary > m.salary;
SELECT a.name, b.name FROM employees a JOIN employees b ON a.salary = b.salary AND a.emp_id < b.emp_id;
SELECT m.name, count(*) AS reports FROM employees e JOIN employees m ON e.manager_id = m.emp_id GROUP BY m.name ORDER BY reports DESC, m.name;
SELECT e.name, m.name, mm.name FROM employees e JOIN employees m ON e.manager_id = m.emp_id LEFT JOIN employees mm ON m.manager_id = mm.emp_id ORDER BY e.emp_id;

-- joins on expressions
SELECT e.name, p.title FROM employees e JOIN projects p ON p.budget > e.salary * 20 ORDER BY e.emp_id, p.proj_id;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id + 1 ORDER BY e.emp_id;
SELECT e.name, d.name FROM employees e JOIN departments d ON lower(d.name) LIKE '%' || lower(substr(e.name, 1, 1)) || '%' ORDER BY e.emp_id, d.dept_id;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id OR e.dept_id IS NULL ORDER BY e.emp_id, d.dept_id;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id IN (d.dept_id, d.dept_id + 2) ORDER BY e.emp_id, d.dept_id;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id IS NOT DISTINCT FROM d.dept_id ORDER BY e.emp_id;
SELECT e.emp_id, p.proj_id FROM employees e JOIN projects p ON e.dept_id = p.dept_id AND e.bonus BETWEEN 0 AND 500 ORDER BY 1, 2;
SELECT a.v, b.v FROM (VALUES (1.5), (2.0), (NULL)) a(v) JOIN (VALUES (2), (1), (NULL)) b(v) ON a.v >= b.v ORDER BY a.v, b.v;
SELECT a.x, b.y FROM (VALUES ('a'::text), ('B')) a(x) JOIN (VALUES ('A'::text), ('b')) b(y) ON upper(a.x) = upper(b.y) ORDER BY a.x;
SELECT a.f, b.f FROM (VALUES (1.5::float8), (2.25::float8)) a(f) JOIN (VALUES (1.5::float8), (3.0::float8)) b(f) ON a.f = b.f;
SELECT a.i, b.b FROM (VALUES (1::int), (2)) a(i) JOIN (VALUES (1::bigint), (2::bigint), (3::bigint)) b(b) ON a.i = b.b ORDER BY a.i;
SELECT a.i, b.n FROM (VALUES (1::int), (2)) a(i) JOIN (VALUES (1.0::numeric), (2.5)) b(n) ON a.i = b.n;

-- multi-way joins
SELECT e.name, p.title, a.hours FROM employees e JOIN assignments a ON a.emp_id = e.emp_id JOIN projects p ON p.proj_id = a.proj_id ORDER BY e.emp_id, p.proj_id, a.hours;
SELECT d.name, p.title, sum(a.hours) FROM departments d JOIN projects p ON p.dept_id = d.dept_id LEFT JOIN assignments a ON a.proj_id = p.proj_id GROUP BY d.name, p.title ORDER BY d.name, p.title;
SELECT e.name, d.name, p.title FROM employees e LEFT JOIN departments d ON d.dept_id = e.dept_id LEFT JOIN projects p ON p.dept_id = d.dept_id ORDER BY e.emp_id, p.proj_id;
SELECT e.name, a.proj_id FROM employees e LEFT JOIN (assignments a JOIN projects p ON p.proj_id = a.proj_id) ON a.emp_id = e.emp_id ORDER BY e.emp_id, a.proj_id, a.hours;
SELECT count(*) FROM employees e JOIN assignments a USING (emp_id) JOIN projects p USING (proj_id) JOIN departments d ON d.dept_id = p.dept_id;
SELECT p.title, e.name FROM projects p FULL JOIN assignments a ON a.proj_id = p.proj_id FULL JOIN employees e ON e.emp_id = a.emp_id ORDER BY p.proj_id NULLS LAST, e.emp_id NULLS LAST;
SELECT d.name, e.name FROM departments d, employees e, projects p WHERE d.dept_id = e.dept_id AND p.dept_id = d.dept_id AND p.budget > 50000 ORDER BY d.name, e.name, p.proj_id;
SELECT DISTINCT d.name FROM departments d JOIN employees e ON e.dept_id = d.dept_id JOIN assignments a ON a.emp_id = e.emp_id ORDER BY d.name;
SELECT * FROM departments d JOIN (SELECT dept_id, max(salary) AS top FROM employees GROUP BY dept_id) m ON m.dept_id = d.dept_id ORDER BY d.dept_id;
SELECT e.name FROM employees e JOIN (SELECT dept_id, max(salary) AS top FROM employees GROUP BY dept_id) m ON m.dept_id = e.dept_id AND m.top = e.salary ORDER BY e.name;
SELECT t1.n, t2.n, t3.n FROM generate_series(1, 3) t1(n) JOIN generate_series(2, 4) t2(n) ON t1.n = t2.n JOIN generate_series(3, 5) t3(n) ON t2.n = t3.n;

-- join with aggregates, ordering and limits
SELECT d.name, avg(e.salary) FROM departments d JOIN employees e USING (dept_id) GROUP BY d.name ORDER BY d.name;
SELECT e.name, count(a.proj_id) AS n FROM employees e LEFT JOIN assignments a ON a.emp_id = e.emp_id GROUP BY e.emp_id, e.name ORDER BY n DESC, e.emp_id LIMIT 3;
SELECT d.name FROM departments d LEFT JOIN employees e ON e.dept_id = d.dept_id GROUP BY d.name HAVING count(e.emp_id) = 0;
SELECT e.name, d.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id ORDER BY d.name DESC, e.name OFFSET 1 LIMIT 2;

-- update and delete with joins
CREATE TABLE emp_copy (emp_id int, name text, dept_id int, manager_id int, salary numeric(10,2), bonus int);
INSERT INTO emp_copy SELECT * FROM employees;
UPDATE emp_copy SET bonus = coalesce(bonus, 0) + 1 FROM departments d WHERE d.dept_id = emp_copy.dept_id AND d.location = 'Berlin';
SELECT emp_id, bonus FROM emp_copy ORDER BY emp_id;
DELETE FROM emp_copy USING departments d WHERE d.dept_id = emp_copy.dept_id AND d.name = 'Sales';
SELECT emp_id FROM emp_copy ORDER BY emp_id;
INSERT INTO emp_copy SELECT e.* FROM employees e JOIN departments d USING (dept_id) WHERE d.name = 'Sales';
SELECT count(*) FROM emp_copy;
CREATE TABLE emp_copy2 AS SELECT e.emp_id, d.name FROM employees e JOIN departments d USING (dept_id);

-- errors
SELECT name FROM employees e JOIN departments d ON e.dept_id = d.dept_id;
SELECT dept_id FROM employees e JOIN departments d ON e.dept_id = d.dept_id;
SELECT e.name FROM employees e JOIN departments d ON e.dept = d.dept_id;
SELECT e.name FROM employees e JOIN nosuch d ON e.dept_id = d.dept_id;
SELECT * FROM employees JOIN departments USING (location);
SELECT * FROM employees JOIN departments USING (nosuch);
SELECT employees.name FROM employees e;
SELECT e.name FROM employees e JOIN employees e ON true;
SELECT * FROM employees e JOIN departments d ON e.name;
SELECT * FROM employees e JOIN departments d ON e.emp_id;
SELECT * FROM employees e JOIN departments d;
SELECT * FROM employees e JOIN departments d ON e.name = d.dept_id;
SELECT x.name FROM employees e JOIN departments d ON e.dept_id = d.dept_id;
SELECT * FROM employees JOIN departments USING (dept_id, dept_id);
SELECT e.name FROM employees e FULL JOIN departments d ON e.dept_id > d.dept_id;
SELECT * FROM employees e, LATERAL (SELECT d.name FROM departments d WHERE d.dept_id = e.dept_id) x ORDER BY e.emp_id;
SELECT * FROM employees e JOIN departments d ON d.dept_id = p.dept_id;
