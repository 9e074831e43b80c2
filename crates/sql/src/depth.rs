//! How deep a statement's trees can get, bounded before it is parsed; and long AND/OR chains
//! made shallow after.
//!
//! The parser, DataFusion's planner and optimizer, and plain `Clone`/`Drop` of the syntax tree
//! all recurse once per tree level, and `a OR b OR c ...` or `1 + 1 + ...` is a tree as deep
//! as the chain is long. A tree deeper than the SQL threads' stack allows would overflow it,
//! and a stack overflow aborts the whole node. So every statement's depth is bounded from its
//! tokens first (the tokenizer does not recurse): a statement that could be deeper than
//! [`STATEMENT_DEPTH_MAX`] gets 54001, as PostgreSQL answers past its `max_stack_depth`, and
//! the runtime's threads run on stacks sized for that depth (`RUNTIME_THREAD_STACK_BYTES`).
//!
//! The bound is conservative: every tree level needs an operator or keyword token, or a pair
//! of brackets, so the depth is at most, along the deepest chain of nested brackets, the
//! number of such tokens inside each bracket pair plus one per pair. Identifiers, literals and
//! commas add nothing, so a list of 100 000 values stays shallow.
//!
//! AND and OR are the exception, because ORMs build lists of conditions with them (`id = 0 OR
//! id = 1 OR ...`, 100 000 terms long) and PostgreSQL answers those. Within one bracket level
//! the AND/OR keywords cut the tokens into segments; each segment is one operand of the level's
//! AND/OR trees, and [`rebalance`] rebuilds every AND/OR chain of at least
//! [`REBALANCE_OPERANDS_MIN`] operands as a balanced tree right after parsing (AND and OR are
//! associative, and SQL leaves their evaluation order to the system). Without brackets an
//! AND/OR tree is at most an OR of ANDs, so a level with `k` segments adds at most
//! [`logic_depth`]`(k)` levels over its deepest segment.

use crate::error::{code, Result, SqlError};
use atoll_types::limits::STATEMENT_DEPTH_MAX;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Query, Statement, Value, Visit, VisitMut, Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};
use std::ops::ControlFlow;

/// The most brackets that may open in a row where a table or a subquery can start (after
/// FROM, JOIN, LATERAL, IN or a comma). There the parser tries each bracket first as a
/// subquery and, when that fails, as a bracketed join, reading the rest again at every level:
/// its time grows about with the cube of the run (1 300 brackets after FROM took 12 s, found
/// by the fuzzer; parsing cannot be interrupted). PostgreSQL takes longer runs; Atoll answers
/// 54001. Elsewhere (`SELECT ((((1))))`) brackets are read once and only the depth bound holds.
pub const TABLE_BRACKET_RUN_MAX: usize = 256;

/// Refuses, with 54001, a run of more than [`TABLE_BRACKET_RUN_MAX`] opening brackets where a
/// table or subquery can start.
pub fn check_bracket_runs(tokens: &[TokenWithSpan]) -> Result<()> {
    let (mut counting, mut run) = (false, 0usize);
    for token in tokens.iter().map(|t| &t.token).filter(|t| !matches!(t, Token::Whitespace(_))) {
        match token {
            Token::LParen if counting => {
                run += 1;
                if run > TABLE_BRACKET_RUN_MAX {
                    return Err(SqlError::new(
                        code::STATEMENT_TOO_COMPLEX,
                        format!(
                            "statement too complex: more than {TABLE_BRACKET_RUN_MAX} brackets open in a row where \
                             a table or subquery starts"
                        ),
                    ));
                }
            }
            Token::Word(word)
                if matches!(word.keyword, Keyword::FROM | Keyword::JOIN | Keyword::LATERAL | Keyword::IN) =>
            {
                (counting, run) = (true, 0);
            }
            Token::Comma => (counting, run) = (true, 0),
            _ => (counting, run) = (false, 0),
        }
    }
    Ok(())
}

/// AND/OR chains of at least this many operands are rebuilt as balanced trees by
/// [`rebalance`]; shorter ones stay as written (and as EXPLAIN shows them).
pub const REBALANCE_OPERANDS_MIN: usize = 64;

/// One bracket level of the statement, while its tokens are read.
#[derive(Debug, Clone, Copy)]
struct Level {
    /// Operands of the level's AND/OR trees: one more than the AND/OR keywords seen.
    segments: usize,
    /// Operator and keyword tokens in the current segment.
    operators: usize,
    /// The most operator tokens in one segment so far.
    widest: usize,
    /// The depth of the deepest bracket closed inside this one.
    child: usize,
}

impl Level {
    fn new() -> Level {
        Level { segments: 1, operators: 0, widest: 0, child: 0 }
    }

    fn depth(&self) -> usize {
        logic_depth(self.segments) + self.widest.max(self.operators) + self.child + 1
    }
}

/// An upper bound of the levels an OR of ANDs over `segments` operands adds once
/// [`rebalance`] has run: a chain shorter than [`REBALANCE_OPERANDS_MIN`] keeps one level per
/// operator, a longer one gets about log2 of its length; the OR and each AND it holds count
/// once each.
pub fn logic_depth(segments: usize) -> usize {
    let ceil_log2 = usize::BITS as usize - segments.saturating_sub(1).leading_zeros() as usize;
    segments.saturating_sub(1).min(2 * (REBALANCE_OPERANDS_MIN + ceil_log2))
}

/// An upper bound of the depth of the trees the statements of `tokens` parse into, once
/// [`rebalance`] has run.
pub fn depth_bound(tokens: &[TokenWithSpan]) -> usize {
    let mut open = vec![Level::new()];
    for token in tokens {
        let nested = open.len() > 1;
        match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => open.push(Level::new()),
            // An unbalanced closing bracket is the parser's error to report.
            Token::RParen | Token::RBracket | Token::RBrace if nested => close(&mut open),
            Token::RParen | Token::RBracket | Token::RBrace => {}
            Token::Whitespace(_) | Token::Comma | Token::SemiColon | Token::EOF | Token::Period => {}
            Token::Word(word) if word.quote_style.is_none() && matches!(word.keyword, Keyword::AND | Keyword::OR) => {
                let level = current(&mut open);
                level.widest = level.widest.max(level.operators);
                level.operators = 0;
                level.segments += 1;
            }
            Token::Word(word) if word.keyword == Keyword::NoKeyword || word.quote_style.is_some() => {}
            Token::Number(..) | Token::SingleQuotedString(_) | Token::DollarQuotedString(_) => {}
            Token::EscapedStringLiteral(_) | Token::HexStringLiteral(_) | Token::NationalStringLiteral(_) => {}
            _ => current(&mut open).operators += 1,
        }
    }
    // Brackets never closed count as closed at the end.
    while open.len() > 1 {
        close(&mut open);
    }
    open.pop().map_or(0, |level| level.depth())
}

fn current(open: &mut [Level]) -> &mut Level {
    open.last_mut().expect("the statement's own level stays open")
}

/// Closes the innermost open bracket: its depth becomes a candidate for its parent's deepest
/// child.
fn close(open: &mut Vec<Level>) {
    if let Some(level) = open.pop() {
        if let Some(parent) = open.last_mut() {
            parent.child = parent.child.max(level.depth());
        }
    }
}

/// Refuses a statement whose trees could be deeper than [`STATEMENT_DEPTH_MAX`] (54001).
pub fn check(tokens: &[TokenWithSpan]) -> Result<()> {
    match depth_bound(tokens) {
        depth if depth > STATEMENT_DEPTH_MAX => Err(SqlError::new(
            code::STATEMENT_TOO_COMPLEX,
            format!(
                "stack depth limit exceeded: the statement nests up to {depth} levels (operators, \
                 keywords and brackets), more than the {STATEMENT_DEPTH_MAX} allowed"
            ),
        )),
        _ => Ok(()),
    }
}

/// Rebuilds every AND/OR chain of at least [`REBALANCE_OPERANDS_MIN`] operands in `statement`
/// as a balanced tree, top down, so that nothing after the parser recurses along the chain.
pub fn rebalance(statement: &mut Statement) {
    let _ = statement.visit(&mut Rebalancer);
}

struct Rebalancer;

impl VisitorMut for Rebalancer {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::BinaryOp { op: op @ (BinaryOperator::And | BinaryOperator::Or), .. } = expr else {
            return ControlFlow::Continue(());
        };
        let op = op.clone();
        if chain_length(expr, &op) >= REBALANCE_OPERANDS_MIN {
            let chain = std::mem::replace(expr, Expr::value(Value::Null));
            *expr = balanced(operands(chain, &op), &op);
        }
        // The visitor goes on into the (now shallow) operands.
        ControlFlow::Continue(())
    }
}

/// Weighted levels of nesting a statement may have once parsed: what DataFusion's planner can
/// plan quickly. Its planning is not interruptible (no statement timeout, cancel or
/// disconnect stops it) and grows faster than linearly with nesting, so a short statement
/// could hold a core for hours (measured on DataFusion 55, release build, 2-core machine:
/// 512 `+` terms plan in 0.28 s; `abs(` nested 128 deep 0.24 s, 256 deep 1.9 s, 512 deep
/// 16 s; scalar subqueries nested 16 deep 0.18 s and 32 deep unfinished after five minutes). So levels are
/// counted with weights (an operator 1, a function call [`FUNCTION_WEIGHT`], a query inside
/// another [`QUERY_WEIGHT`]) and a statement past [`PLAN_DEPTH_MAX`] gets 54001 before
/// planning. PostgreSQL refuses at its stack limit instead (about 4 500 `+` terms); its
/// planner is linear where DataFusion's is not.
pub const PLAN_DEPTH_MAX: usize = 1024;
/// What one function call level counts towards [`PLAN_DEPTH_MAX`].
pub const FUNCTION_WEIGHT: usize = 8;
/// What one level of query nesting counts towards [`PLAN_DEPTH_MAX`].
pub const QUERY_WEIGHT: usize = 64;
/// Operands one AND chain may join. DataFusion folds a WHERE clause's conjunction back into one
/// left-deep chain (undoing [`rebalance`]) and plans it in quadratic time.
pub const AND_OPERANDS_MAX: usize = 4096;

/// Refuses a parsed statement that DataFusion would take too long to plan (54001); see
/// [`PLAN_DEPTH_MAX`] and [`AND_OPERANDS_MAX`].
pub fn check_plan_cost(statement: &Statement) -> Result<()> {
    let mut meter = Meter::default();
    if let ControlFlow::Break(error) = statement.visit(&mut meter) {
        return Err(error);
    }
    Ok(())
}

/// Walks a statement, keeping the weighted depth of the levels open around the current node.
#[derive(Default)]
struct Meter {
    /// Weight of each open level, innermost last; with whether it is an AND.
    open: Vec<(usize, bool)>,
    depth: usize,
}

impl Meter {
    fn enter(&mut self, weight: usize, and: bool) -> ControlFlow<SqlError> {
        self.open.push((weight, and));
        self.depth += weight;
        if self.depth > PLAN_DEPTH_MAX {
            return ControlFlow::Break(SqlError::new(
                code::STATEMENT_TOO_COMPLEX,
                format!(
                    "statement too complex: its expressions nest more than {PLAN_DEPTH_MAX} weighted \
                     levels deep (an operator counts 1, a function call {FUNCTION_WEIGHT}, a subquery \
                     {QUERY_WEIGHT})"
                ),
            ));
        }
        ControlFlow::Continue(())
    }

    fn leave(&mut self) -> ControlFlow<SqlError> {
        let (weight, _) = self.open.pop().expect("every level left was entered");
        self.depth -= weight;
        ControlFlow::Continue(())
    }
}

impl Visitor for Meter {
    type Break = SqlError;

    fn pre_visit_query(&mut self, _query: &Query) -> ControlFlow<SqlError> {
        // The statement's own query is no nesting.
        let weight = if self.open.is_empty() { 0 } else { QUERY_WEIGHT };
        self.enter(weight, false)
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<SqlError> {
        self.leave()
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<SqlError> {
        let and = matches!(expr, Expr::BinaryOp { op: BinaryOperator::And, .. });
        let inside_and = self.open.last().is_some_and(|&(_, and)| and);
        if and && !inside_and {
            let operands = chain_length(expr, &BinaryOperator::And);
            if operands > AND_OPERANDS_MAX {
                return ControlFlow::Break(SqlError::new(
                    code::STATEMENT_TOO_COMPLEX,
                    format!("statement too complex: an AND of {operands} conditions, more than the {AND_OPERANDS_MAX} allowed"),
                ));
            }
        }
        let weight = match expr {
            // Brackets and the chains rebalanced above are free: no planner work grows with them.
            Expr::Nested(_) => 0,
            Expr::BinaryOp { op: BinaryOperator::And | BinaryOperator::Or, .. } => 0,
            Expr::Function(_) => FUNCTION_WEIGHT,
            _ => 1,
        };
        self.enter(weight, and)
    }

    fn post_visit_expr(&mut self, _expr: &Expr) -> ControlFlow<SqlError> {
        self.leave()
    }
}

/// How many operands the chain of `op` rooted at `expr` joins, walked without recursion.
fn chain_length(expr: &Expr, op: &BinaryOperator) -> usize {
    let (mut count, mut pending) = (0, vec![expr]);
    while let Some(next) = pending.pop() {
        match next {
            Expr::BinaryOp { left, op: this, right } if this == op => pending.extend([&**right, &**left]),
            _ => count += 1,
        }
    }
    count
}

/// The operands of the chain of `op` rooted at `expr`, in order, taken apart without
/// recursion.
fn operands(expr: Expr, op: &BinaryOperator) -> Vec<Expr> {
    let (mut out, mut pending) = (Vec::new(), vec![expr]);
    while let Some(next) = pending.pop() {
        match next {
            Expr::BinaryOp { left, op: this, right } if &this == op => pending.extend([*right, *left]),
            other => out.push(other),
        }
    }
    out
}

/// `operands` joined by `op` as a balanced tree (recursion depth: log2 of their number).
fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    assert!(!operands.is_empty(), "a chain has operands");
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp { left: Box::new(balanced(operands, op)), op: op.clone(), right: Box::new(balanced(right, op)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    fn tokens(sql: &str) -> Vec<TokenWithSpan> {
        Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().expect("tokenizes")
    }

    fn depth_of(sql: &str) -> usize {
        depth_bound(&tokens(sql))
    }

    fn chain(op: &str, terms: usize) -> String {
        let terms: Vec<String> = (0..terms).map(|i| format!("x = {i}")).collect();
        format!("SELECT count(*) FROM t WHERE {}", terms.join(op))
    }

    /// The real depth of an expression tree, walked without recursion.
    fn tree_depth(expr: &Expr) -> usize {
        let (mut deepest, mut pending) = (0, vec![(expr, 1)]);
        while let Some((next, depth)) = pending.pop() {
            deepest = deepest.max(depth);
            match next {
                Expr::BinaryOp { left, right, .. } => pending.extend([(&**left, depth + 1), (&**right, depth + 1)]),
                Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => pending.push((&**expr, depth + 1)),
                _ => {}
            }
        }
        deepest
    }

    #[test]
    fn long_bracket_runs_where_a_table_starts_are_refused_and_others_are_not() {
        let run = |prefix: &str, brackets: usize| {
            let sql = format!("{prefix}{}SELECT 1{} AS s", "(".repeat(brackets), ")".repeat(brackets));
            check_bracket_runs(&tokens(&sql)).map_err(|e| e.code)
        };
        for prefix in [
            "SELECT * FROM ",
            "SELECT * FROM t JOIN ",
            "SELECT * FROM t, ",
            "SELECT 1 WHERE 1 IN ",
            "SELECT * FROM LATERAL ",
        ] {
            assert_eq!(run(prefix, TABLE_BRACKET_RUN_MAX), Ok(()), "{prefix}");
            assert_eq!(run(prefix, TABLE_BRACKET_RUN_MAX + 1), Err("54001"), "{prefix}");
            // Whitespace and comments between the brackets change nothing.
            let spaced = format!("{prefix}{}1", "( /* */ ".repeat(TABLE_BRACKET_RUN_MAX + 1));
            assert_eq!(check_bracket_runs(&tokens(&spaced)).map_err(|e| e.code), Err("54001"));
        }
        // Brackets in expressions are read once: only the depth bound holds for them.
        let nested = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert_eq!(check_bracket_runs(&tokens(&nested)).map_err(|e| e.code), Ok(()));
        // A run is cut by anything else: one bracket per level, as joins nest, is fine.
        let joins = format!("SELECT * FROM {}t{}", "(t JOIN ".repeat(1_000), " ON true)".repeat(1_000));
        assert_eq!(check_bracket_runs(&tokens(&joins)).map_err(|e| e.code), Ok(()));
    }

    fn selection(sql: &str) -> (usize, Expr) {
        let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        rebalance(&mut statements[0]);
        let Statement::Query(query) = &statements[0] else { panic!("a query") };
        let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { panic!("a select") };
        let selection = select.selection.clone().expect("a WHERE");
        (depth_of(sql), selection)
    }

    #[test]
    fn chains_count_each_operator_and_lists_count_nothing() {
        let shallow = depth_of("SELECT a + 1 FROM t WHERE b = 2");
        assert!(shallow < 10, "{shallow}");
        let plus: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
        let plus_chain = depth_of(&format!("SELECT {}", plus.join(" + ")));
        assert!(plus_chain >= 3000, "3 000 `+` terms are a tree 3 000 deep: {plus_chain}");
        let list: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        let in_list = depth_of(&format!("SELECT 1 WHERE x IN ({})", list.join(",")));
        assert!(in_list < 10, "a list of values is flat: {in_list}");
    }

    #[test]
    fn long_and_or_chains_become_balanced_and_the_bound_holds_over_the_tree() {
        for (op, terms) in [(" OR ", 100_000), (" AND ", 3000), (" OR ", 63), (" OR ", 64), (" AND ", 2)] {
            let (bound, tree) = selection(&chain(op, terms));
            let depth = tree_depth(&tree);
            assert!(depth <= bound, "{terms} terms joined by{op}: tree {depth} deep, bound {bound}");
            assert!(bound < 200, "{terms} terms joined by{op}: bound {bound}");
            if terms >= REBALANCE_OPERANDS_MIN {
                assert!(depth <= 2 + (terms as f64).log2().ceil() as usize, "{terms}: not balanced ({depth})");
            }
        }
        // An OR of ANDs, and a chain of mixed operators: still within the bound.
        let ors: Vec<String> = (0..5000).map(|i| format!("(a = {i} AND b = {i} AND c > {i})")).collect();
        let (bound, tree) = selection(&format!("SELECT 1 FROM t WHERE {}", ors.join(" OR ")));
        assert!(tree_depth(&tree) <= bound && bound < 300, "{bound}");
        let ands: Vec<String> = (0..70).map(|i| format!("a = {i} + 1 + 1")).collect();
        let (bound, tree) = selection(&format!("SELECT 1 FROM t WHERE {} OR z", ands.join(" AND ")));
        assert!(tree_depth(&tree) <= bound, "{bound}");
        // The operands keep their order.
        let (_, tree) = selection(&chain(" OR ", 100));
        let text = tree.to_string();
        let positions: Vec<usize> = (0..100)
            .map(|i| text.find(&format!("x = {i})")).or_else(|| text.find(&format!("x = {i}"))).expect("operand"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn nesting_counts_every_bracket_and_what_is_inside_the_deepest() {
        let nested = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        assert!(depth_of(&nested) >= 500);
        let unclosed = format!("SELECT {}1 + 1 + 1", "(".repeat(300));
        assert!(depth_of(&unclosed) >= 302);
        // Depth is along one path: siblings do not add up.
        let siblings = format!("SELECT {}", vec!["(1 + 1 + 1)"; 1000].join(", "));
        assert!(depth_of(&siblings) < 10);
    }

    #[test]
    fn too_deep_is_54001_and_within_the_limit_passes() {
        let error = check(&tokens(&format!(
            "SELECT {}1{}",
            "(".repeat(STATEMENT_DEPTH_MAX + 1),
            ")".repeat(STATEMENT_DEPTH_MAX + 1)
        )))
        .expect_err("too deep");
        assert_eq!(error.code, code::STATEMENT_TOO_COMPLEX);
        check(&tokens(&chain(" OR ", 100_000))).expect("100 000 OR terms pass");
    }

    /// Parses as sessions do (which includes the plan cost check): the SQLSTATE of a refusal.
    fn plan_cost(sql: &str) -> std::result::Result<(), String> {
        crate::session::parse(sql).map(|_| ()).map_err(|e| e.code.to_string())
    }

    #[test]
    fn plan_cost_weighs_functions_and_subqueries_and_counts_and_operands() {
        // Deep trees need the stacks the SQL threads have.
        std::thread::Builder::new()
            .stack_size(atoll_types::limits::RUNTIME_THREAD_STACK_BYTES)
            .spawn(plan_cost_cases)
            .expect("spawn")
            .join()
            .expect("the cases pass");
    }

    fn plan_cost_cases() {
        let too_complex = Err(code::STATEMENT_TOO_COMPLEX.to_string());
        let plus = |terms: usize| format!("SELECT {}", vec!["1"; terms].join("+"));
        assert_eq!(plan_cost(&plus(1000)), Ok(()));
        assert_eq!(plan_cost(&plus(PLAN_DEPTH_MAX + 2)), too_complex);
        let calls = |depth: usize| format!("SELECT {}1{}", "abs(".repeat(depth), ")".repeat(depth));
        assert_eq!(plan_cost(&calls(PLAN_DEPTH_MAX / FUNCTION_WEIGHT - 1)), Ok(()));
        assert_eq!(plan_cost(&calls(PLAN_DEPTH_MAX / FUNCTION_WEIGHT + 1)), too_complex);
        let subqueries = |depth: usize| format!("SELECT {}1{}", "(SELECT ".repeat(depth), ")".repeat(depth));
        assert_eq!(plan_cost(&subqueries(PLAN_DEPTH_MAX / QUERY_WEIGHT - 2)), Ok(()));
        assert_eq!(plan_cost(&subqueries(PLAN_DEPTH_MAX / QUERY_WEIGHT + 1)), too_complex);
        let derived = |depth: usize| {
            format!("SELECT * FROM {}(SELECT 1) t{}", "(SELECT * FROM ".repeat(depth), ") t".repeat(depth))
        };
        assert_eq!(plan_cost(&derived(PLAN_DEPTH_MAX / QUERY_WEIGHT - 2)), Ok(()));
        assert_eq!(plan_cost(&derived(PLAN_DEPTH_MAX / QUERY_WEIGHT + 1)), too_complex);
        // Brackets weigh nothing; rebalanced OR chains almost nothing; AND chains are counted.
        assert_eq!(plan_cost(&format!("SELECT {}1{}", "(".repeat(2000), ")".repeat(2000))), Ok(()));
        let chain = |op: &str, terms: usize| {
            format!("SELECT 1 WHERE {}", (0..terms).map(|i| format!("x <> {i}")).collect::<Vec<_>>().join(op))
        };
        assert_eq!(plan_cost(&chain(" OR ", 20_000)), Ok(()));
        assert_eq!(plan_cost(&chain(" AND ", AND_OPERANDS_MAX)), Ok(()));
        assert_eq!(plan_cost(&chain(" AND ", AND_OPERANDS_MAX + 1)), too_complex);
    }
}
