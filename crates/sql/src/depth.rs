//! How deep a statement's trees can get, bounded before it is parsed.
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

use crate::error::{code, Result, SqlError};
use atoll_types::limits::STATEMENT_DEPTH_MAX;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// An upper bound of the depth of the trees the statements of `tokens` parse into.
pub fn depth_bound(tokens: &[TokenWithSpan]) -> usize {
    // One entry per open bracket: the levels counted in it, and its deepest closed child.
    let mut open: Vec<(usize, usize)> = vec![(0, 0)];
    for token in tokens {
        match &token.token {
            Token::LParen | Token::LBracket | Token::LBrace => open.push((0, 0)),
            // An unbalanced closing bracket is the parser's error to report.
            Token::RParen | Token::RBracket | Token::RBrace if open.len() > 1 => close(&mut open),
            Token::RParen | Token::RBracket | Token::RBrace => {}
            Token::Whitespace(_) | Token::Comma | Token::SemiColon | Token::EOF | Token::Period => {}
            Token::Word(word) if word.keyword == Keyword::NoKeyword || word.quote_style.is_some() => {}
            Token::Number(..) | Token::SingleQuotedString(_) | Token::DollarQuotedString(_) => {}
            Token::EscapedStringLiteral(_) | Token::HexStringLiteral(_) | Token::NationalStringLiteral(_) => {}
            _ => {
                if let Some(current) = open.last_mut() {
                    current.0 += 1;
                }
            }
        }
    }
    // Brackets never closed count as closed at the end.
    while open.len() > 1 {
        close(&mut open);
    }
    open.pop().map_or(0, |(levels, child)| levels + child + 1)
}

/// Closes the innermost open bracket: its depth becomes a candidate for its parent's deepest
/// child.
fn close(open: &mut Vec<(usize, usize)>) {
    if let Some((levels, child)) = open.pop() {
        if let Some(parent) = open.last_mut() {
            parent.1 = parent.1.max(levels + child + 1);
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

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
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

    #[test]
    fn chains_count_each_operator_and_lists_count_nothing() {
        let shallow = depth_of("SELECT a + 1 FROM t WHERE b = 2");
        assert!(shallow < 10, "{shallow}");
        let or_chain = depth_of(&chain(" OR ", 3000));
        assert!(or_chain >= 3000, "3 000 OR terms are a tree 3 000 deep: {or_chain}");
        let list: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
        let in_list = depth_of(&format!("SELECT 1 WHERE x IN ({})", list.join(",")));
        assert!(in_list < 10, "a list of values is flat: {in_list}");
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
        check(&tokens(&chain(" OR ", 3000))).expect("3 000 OR terms pass");
    }
}
