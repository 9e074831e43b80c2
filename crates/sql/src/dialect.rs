//! Atoll's SQL dialect for the parser: PostgreSQL's, with a bound on the parser's work.
//!
//! The parser backtracks: where two readings are possible it tries one and, if that fails,
//! rewinds and tries the other, at every nesting level. Nested alternatives multiply, so some
//! statements take time exponential in their nesting: with PostgreSQL's dialect every function
//! argument was first read as `name => value` with an expression for a name, so `f(f(f(...1)))`
//! 20 calls deep took 2 s and every level more doubled it, and a 142-byte statement found by
//! the fuzzer took 47 s. Parsing runs on the connection's task and nothing interrupts it, so
//! the client's statement timeout, cancel or disconnect could not stop it.
//!
//! Two changes make that impossible:
//! - [`AtollDialect`] reads only identifiers as argument names, as PostgreSQL does (`name =>
//!   value`, `name := value`); expression names (`json_object('label': 'value')`, PostgreSQL
//!   16) are not SQL that Atoll runs anyway.
//! - Every call the parser makes into the dialect counts against a budget proportional to the
//!   statement's tokens ([`PARSE_WORK_PER_TOKEN`] per token, at least
//!   [`PARSE_WORK_MIN`]); the parser asks the dialect at every expression, operator and
//!   query, so its work between two calls is bounded. Past the budget the dialect's fallible
//!   hooks fail with the parser's recursion error, which the parser's backtracking never
//!   swallows, and [`crate::session::parse`] answers 54001, as for a statement nested too deep.
//!   Statements that parse without much backtracking use a few calls per token (the unit
//!   tests measure it), so the budget leaves them a wide margin.

use datafusion::sql::sqlparser::ast::{Expr, Statement, UnaryOperator};
use datafusion::sql::sqlparser::dialect::{Dialect, PostgreSqlDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;
use std::any::TypeId;
use std::cell::Cell;

/// Dialect calls a statement may make per token before parsing stops.
pub const PARSE_WORK_PER_TOKEN: u64 = 256;
/// Dialect calls every statement may make, however short.
pub const PARSE_WORK_MIN: u64 = 100_000;

/// PostgreSQL's dialect with identifier-only argument names and a work budget.
#[derive(Debug)]
pub struct AtollDialect {
    inner: PostgreSqlDialect,
    calls: Cell<u64>,
    budget: u64,
}

impl AtollDialect {
    /// A dialect for parsing a statement of `tokens` tokens.
    pub fn for_tokens(tokens: usize) -> AtollDialect {
        let budget = PARSE_WORK_PER_TOKEN.saturating_mul(tokens as u64).max(PARSE_WORK_MIN);
        AtollDialect { inner: PostgreSqlDialect {}, calls: Cell::new(0), budget }
    }

    /// Whether the parser ran out of budget (its answer, whatever it was, is not to be used).
    pub fn exhausted(&self) -> bool {
        self.calls.get() > self.budget
    }

    /// Calls made so far.
    #[cfg(test)]
    pub fn calls(&self) -> u64 {
        self.calls.get()
    }

    /// Counts one call; false once the budget is spent.
    fn spend(&self) -> bool {
        let calls = self.calls.get().saturating_add(1);
        self.calls.set(calls);
        calls <= self.budget
    }
}

/// Delegates dialect questions to PostgreSQL's dialect, counting each.
macro_rules! counted {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $out {
            self.spend();
            self.inner.$name($($arg),*)
        })*
    };
}

/// What a sign's operand takes with it: only what binds tighter than PostgreSQL's signs
/// (`::` at 140, `[]` at 130, `.`), not `COLLATE` (120), `AT TIME ZONE` (110) or `^` (100).
const SIGN_OPERAND_PRECEDENCE: u8 = 120;

impl Dialect for AtollDialect {
    /// The parser checks for PostgreSQL's dialect by type in many places; this is it.
    fn dialect(&self) -> TypeId {
        TypeId::of::<PostgreSqlDialect>()
    }

    fn supports_named_fn_args_with_expr_name(&self) -> bool {
        self.spend();
        false
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        if !self.spend() {
            return Some(Err(ParserError::RecursionLimitExceeded));
        }
        // A sign binds tighter than `^` in PostgreSQL (`-3 ^ 2` is 9); sqlparser gives its
        // operand only the precedence of `*`, so it read `-(3 ^ 2)`.
        let op = match parser.peek_token().token {
            Token::Minus => UnaryOperator::Minus,
            Token::Plus => UnaryOperator::Plus,
            _ => return self.inner.parse_prefix(parser),
        };
        parser.next_token();
        Some(parser.parse_subexpr(SIGN_OPERAND_PRECEDENCE).map(|expr| Expr::UnaryOp { op, expr: Box::new(expr) }))
    }

    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, precedence: u8) -> Option<Result<Expr, ParserError>> {
        if !self.spend() {
            return Some(Err(ParserError::RecursionLimitExceeded));
        }
        self.inner.parse_infix(parser, expr, precedence)
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        if !self.spend() {
            return Some(Err(ParserError::RecursionLimitExceeded));
        }
        self.inner.get_next_precedence(parser)
    }

    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>> {
        if !self.spend() {
            return Some(Err(ParserError::RecursionLimitExceeded));
        }
        self.inner.parse_statement(parser)
    }

    counted! {
        identifier_quote_style(identifier: &str) -> Option<char>;
        is_delimited_identifier_start(ch: char) -> bool;
        is_identifier_start(ch: char) -> bool;
        is_identifier_part(ch: char) -> bool;
        supports_unicode_string_literal() -> bool;
        is_reserved_for_identifier(kw: Keyword) -> bool;
        is_custom_operator_part(ch: char) -> bool;
        supports_filter_during_aggregation() -> bool;
        supports_group_by_expr() -> bool;
        prec_value(prec: Precedence) -> u8;
        prec_unknown() -> u8;
        allow_extract_custom() -> bool;
        allow_extract_single_quotes() -> bool;
        supports_create_index_with_clause() -> bool;
        supports_explain_with_utility_options() -> bool;
        supports_listen_notify() -> bool;
        supports_factorial_operator() -> bool;
        supports_bitwise_shift_operators() -> bool;
        supports_comment_on() -> bool;
        supports_load_extension() -> bool;
        supports_named_fn_args_with_colon_operator() -> bool;
        supports_empty_projections() -> bool;
        supports_nested_comments() -> bool;
        supports_string_escape_constant() -> bool;
        supports_numeric_literal_underscores() -> bool;
        supports_array_typedef_with_brackets() -> bool;
        supports_geometric_types() -> bool;
        supports_set_names() -> bool;
        supports_alter_column_type_using() -> bool;
        supports_notnull_operator() -> bool;
        supports_interval_options() -> bool;
        supports_insert_table_alias() -> bool;
        supports_create_table_like_parenthesized() -> bool;
        supports_select_wildcard_with_alias() -> bool;
        supports_comma_separated_trim() -> bool;
        supports_xml_expressions() -> bool;
        supports_comment_optimizer_hint() -> bool;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    /// Parses `sql` with a budget; the statements (or the error) and the calls made.
    fn parse(sql: &str) -> (Result<Vec<Statement>, ParserError>, u64, usize, bool) {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().expect("tokenizes");
        let count = tokens.len();
        let dialect = AtollDialect::for_tokens(count);
        let parsed =
            Parser::new(&dialect).with_recursion_limit(100_000).with_tokens_with_locations(tokens).parse_statements();
        (parsed, dialect.calls(), count, dialect.exhausted())
    }

    /// Statements of the kinds clients send, with PostgreSQL's named arguments among them.
    const EVERYDAY: &[&str] = &[
        "SELECT 1",
        "SELECT a, b + 1 AS c FROM t WHERE a = $1 AND b IN (1, 2, 3) ORDER BY c DESC LIMIT 10",
        "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 2, 3, 4, CURRENT_TIMESTAMP)",
        "SELECT count(*), sum(x), avg(y::float8) FROM t GROUP BY z HAVING count(*) > 1",
        "WITH r AS (SELECT id FROM a WHERE id > 3) SELECT * FROM r JOIN b ON r.id = b.id",
        "SELECT coalesce(nullif(upper(trim(lower(name))), ''), 'x') FROM t",
        "SELECT make_interval(days => 10, hours := 2)",
        "SELECT * FROM (SELECT * FROM (SELECT 1 AS x) s) u WHERE x IN (SELECT 1)",
        "SELECT CASE WHEN a > 1 THEN 'a' WHEN a < 0 THEN 'b' ELSE 'c' END FROM t",
        "CREATE TABLE t (id int PRIMARY KEY, name text NOT NULL DEFAULT 'x', d numeric(10, 2))",
        "SELECT ((((((((((1))))))))))",
        "SELECT row_number() OVER (PARTITION BY a ORDER BY b) FROM t",
    ];

    #[test]
    fn everyday_statements_parse_as_postgresql_dialect_does_with_a_wide_margin() {
        for sql in EVERYDAY {
            let (parsed, calls, tokens, exhausted) = parse(sql);
            let reference = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("PostgreSQL's dialect parses it");
            let parsed = parsed.expect("parses");
            if sql.contains("=>") {
                // An identifier names the argument instead of an expression (DataFusion takes
                // both alike).
                let text = format!("{parsed:?}");
                assert!(text.contains("Named { name: Ident { value: \"days\""), "{text}");
            } else {
                assert_eq!(parsed, reference, "{sql}");
            }
            assert!(!exhausted);
            // Eight times less than the budget allows, per token.
            assert!(calls <= tokens as u64 * PARSE_WORK_PER_TOKEN / 8, "{sql}: {calls} calls for {tokens} tokens");
        }
    }

    #[test]
    fn signs_bind_tighter_than_carets_as_in_postgresql() {
        let squared = first_item(&parse("SELECT -3 ^ 2").0.expect("parses")[0]);
        let Expr::BinaryOp { left, .. } = &squared else { panic!("the caret is the root: {squared:?}") };
        assert!(matches!(**left, Expr::UnaryOp { op: UnaryOperator::Minus, .. }), "{squared:?}");
        let reference = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT -3 ^ 2").expect("parses");
        assert!(matches!(first_item(&reference[0]), Expr::UnaryOp { .. }), "sqlparser's own tree differs");
        assert!(matches!(first_item(&parse("SELECT -x::int").0.expect("parses")[0]), Expr::UnaryOp { .. }));
        assert!(matches!(first_item(&parse("SELECT 2 - -3 ^ 2").0.expect("parses")[0]), Expr::BinaryOp { .. }));
        assert!(matches!(first_item(&parse("SELECT +a[1]").0.expect("parses")[0]), Expr::UnaryOp { .. }));
    }

    fn first_item(statement: &Statement) -> Expr {
        let Statement::Query(query) = statement else { panic!("a query") };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { panic!("a select") };
        match &select.projection[0] {
            datafusion::sql::sqlparser::ast::SelectItem::UnnamedExpr(expr) => expr.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn nested_calls_take_linear_work() {
        for depth in [10, 40, 1000] {
            let sql = format!("SELECT {}1{}", "f(".repeat(depth), ")".repeat(depth));
            let (parsed, calls, tokens, _) = parse(&sql);
            assert!(parsed.is_ok(), "depth {depth}");
            assert!(calls <= tokens as u64 * 16, "depth {depth}: {calls} calls for {tokens} tokens");
        }
    }

    #[test]
    fn valid_nesting_of_every_kind_takes_linear_work() {
        let kinds: &[(&str, &str)] = &[
            ("f(", ")"),
            ("cast(", " AS int)"),
            ("position('a' IN ", ")"),
            ("array[", "]"),
            ("overlay('abc' PLACING ", " FROM 1)"),
            ("(SELECT ", ")"),
            ("coalesce(", ", 1)"),
            ("f(a => ", ")"),
        ];
        for (open, close) in kinds {
            let sql = format!("SELECT {}1{}", open.repeat(40), close.repeat(40));
            let (parsed, calls, tokens, exhausted) = parse(&sql);
            assert!(parsed.is_ok() && !exhausted, "{sql}");
            assert!(calls <= tokens as u64 * 16, "{open}: {calls} calls for {tokens} tokens");
        }
    }

    #[test]
    fn the_budget_stops_exponential_backtracking() {
        // Found by the sql_input fuzz target: 47 s in the parser when every function argument
        // was tried as an expression-named one first; now an ordinary syntax error.
        let found = include_str!("../../../fuzz/regressions/sql_input-parse-47s");
        let (parsed, _, _, exhausted) = parse(found);
        assert!(parsed.is_err() && !exhausted);
        // Unclosed casts still backtrack at every level (each is tried as a data type, then as
        // an expression): time doubles with each, and the budget cuts it off.
        for depth in [14, 40, 1000] {
            let sql = format!("SELECT {}1", "cast(".repeat(depth));
            let (parsed, calls, tokens, exhausted) = parse(&sql);
            assert!(parsed.is_err() && exhausted, "depth {depth}");
            let budget = (tokens as u64 * PARSE_WORK_PER_TOKEN).max(PARSE_WORK_MIN);
            // Unwinding asks the dialect a few more questions per level.
            assert!(calls <= budget + tokens as u64 * 8, "depth {depth}: {calls} calls");
        }
    }
}
