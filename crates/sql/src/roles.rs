//! Roles: `CREATE ROLE` / `CREATE USER`, `ALTER ROLE name [WITH] option...`, `DROP ROLE` /
//! `DROP USER`. Roles change in the statement's transaction, like every descriptor. A password
//! is kept only as its SCRAM-SHA-256 verifier ([`crate::scram`]); a verifier given as the
//! password (`PASSWORD 'SCRAM-SHA-256$...'`, as pg_dump writes) is kept as it is.
//!
//! Who may: superusers change any role; any user may change its own password (as in
//! PostgreSQL). Sessions of insecure nodes act as superusers (nobody was authenticated, so no
//! one can be told apart).

use crate::catalog::{self, RoleDesc, ROOT_ROLE};
use crate::error::{code, Result, SqlError};
use crate::scram::Verifier;
use crate::session::{ident_name, table_name, Notice, Output, Session};
use datafusion::sql::sqlparser::ast::{self, RoleOption};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan};

/// Longest role name (PostgreSQL's NAMEDATALEN - 1).
const ROLE_NAME_BYTES_MAX: usize = 63;

fn denied(what: &str) -> SqlError {
    SqlError::new(code::INSUFFICIENT_PRIVILEGE, format!("permission denied to {what}"))
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > ROLE_NAME_BYTES_MAX {
        return Err(SqlError::new(code::INVALID_NAME, format!("role name \"{name}\" must be 1 to 63 bytes")));
    }
    if name.starts_with("pg_") {
        return Err(SqlError::new(
            code::RESERVED_NAME,
            format!("role name \"{name}\" is reserved: role names starting with \"pg_\" are reserved"),
        ));
    }
    Ok(())
}

/// The stored form of a `PASSWORD` option: its verifier, or `None` for `PASSWORD NULL` and
/// for an empty password (PostgreSQL clears it with a notice).
fn verifier(password: &ast::Password, notices: &mut Vec<Notice>) -> Result<Option<String>> {
    let text = match password {
        ast::Password::NullPassword => return Ok(None),
        ast::Password::Password(ast::Expr::Value(value)) => match &value.value {
            ast::Value::SingleQuotedString(text) | ast::Value::EscapedStringLiteral(text) => text,
            ast::Value::Null => return Ok(None),
            _ => return Err(SqlError::new(code::SYNTAX_ERROR, "a password is a string literal")),
        },
        ast::Password::Password(_) => return Err(SqlError::new(code::SYNTAX_ERROR, "a password is a string literal")),
    };
    if text.is_empty() {
        notices.push(Notice::info(
            code::SUCCESSFUL_COMPLETION,
            "empty string is not a valid password, clearing password".into(),
        ));
        return Ok(None);
    }
    if Verifier::parse(text).is_some() {
        return Ok(Some(text.clone()));
    }
    if text.len() == 35 && text.starts_with("md5") {
        return Err(SqlError::unsupported("MD5 password hashes (give the password, or a SCRAM-SHA-256 verifier)"));
    }
    Ok(Some(Verifier::new(text).to_text()))
}

/// `CONNECTION LIMIT n`: `None` for -1 (no limit), as in PostgreSQL.
fn connection_limit(limit: &ast::Expr) -> Result<Option<u32>> {
    let invalid = || SqlError::new(code::INVALID_PARAMETER_VALUE, format!("invalid connection limit: {limit}"));
    // An integer literal, negative or not, prints as itself; anything else does not parse.
    match limit.to_string().parse::<i64>().map_err(|_| invalid())? {
        -1 => Ok(None),
        n => u32::try_from(n).map(Some).map_err(|_| invalid()),
    }
}

/// Applies `options` to `role`; `Err` for the options Atoll does not have.
fn apply(role: &mut RoleDesc, options: &[RoleOption], notices: &mut Vec<Notice>) -> Result<()> {
    for option in options {
        match option {
            RoleOption::Login(login) => role.login = *login,
            RoleOption::SuperUser(superuser) => role.superuser = *superuser,
            RoleOption::Password(password) => role.password = verifier(password, notices)?,
            RoleOption::ConnectionLimit(limit) => role.connection_limit = connection_limit(limit)?,
            // Every role inherits the privileges of the roles it is a member of.
            RoleOption::Inherit(true) => {}
            other => return Err(SqlError::unsupported(format!("role option {other}"))),
        }
    }
    Ok(())
}

/// `create`'s options as a list, as ALTER ROLE gives them; `Err` for those Atoll lacks.
fn create_options(create: &ast::CreateRole) -> Result<Vec<RoleOption>> {
    let unsupported = [
        (create.bypassrls.is_some(), "BYPASSRLS"),
        (create.create_db.is_some(), "CREATEDB"),
        (create.create_role.is_some(), "CREATEROLE"),
        (create.replication.is_some(), "REPLICATION"),
        (create.inherit == Some(false), "NOINHERIT"),
        (create.valid_until.is_some(), "VALID UNTIL"),
        (!create.in_group.is_empty(), "IN GROUP"),
        (!create.role.is_empty() || !create.user.is_empty() || !create.admin.is_empty(), "ROLE / ADMIN"),
        (create.authorization_owner.is_some(), "AUTHORIZATION"),
    ];
    if let Some((_, option)) = unsupported.iter().find(|(given, _)| *given) {
        return Err(SqlError::unsupported(format!("role option {option}")));
    }
    let mut options = Vec::new();
    options.extend(create.login.map(RoleOption::Login));
    options.extend(create.superuser.map(RoleOption::SuperUser));
    options.extend(create.password.clone().map(RoleOption::Password));
    options.extend(create.connection_limit.clone().map(RoleOption::ConnectionLimit));
    Ok(options)
}

impl Session {
    /// `CREATE ROLE` (and `CREATE USER`, which [`crate::session::parse`] turns into a
    /// `CREATE ROLE ... LOGIN`).
    pub(crate) async fn create_role(&mut self, create: &ast::CreateRole) -> Result<Output> {
        if !self.acts_as_superuser() {
            return Err(denied("create role"));
        }
        let options = create_options(create)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        for name in &create.names {
            let name = table_name(name)?;
            check_name(&name)?;
            if catalog::role(txn, &name).await?.is_some() {
                if create.if_not_exists {
                    self.notices.push(Notice::info(
                        code::SUCCESSFUL_COMPLETION,
                        format!("role \"{name}\" already exists, skipping"),
                    ));
                    continue;
                }
                return Err(SqlError::new(code::DUPLICATE_OBJECT, format!("role \"{name}\" already exists")));
            }
            let mut role = RoleDesc::new(name);
            apply(&mut role, &options, &mut self.notices)?;
            for parent in &create.in_role {
                let parent = ident_name(parent);
                if catalog::role(txn, &parent).await?.is_none() {
                    return Err(SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{parent}\" does not exist")));
                }
                role.member_of.push(parent);
            }
            catalog::put_role(txn, &role)?;
        }
        Ok(Output::command("CREATE ROLE"))
    }

    /// `ALTER ROLE name [WITH] option...`: superusers for any role and option, anyone for
    /// their own password.
    pub(crate) async fn alter_role_options(&mut self, name: &ast::Ident, options: &[RoleOption]) -> Result<Output> {
        let name = ident_name(name);
        let own_password = name == self.current_user() && options.iter().all(|o| matches!(o, RoleOption::Password(_)));
        if !self.acts_as_superuser() && !own_password {
            return Err(denied("alter role"));
        }
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        let mut role = catalog::role(txn, &name)
            .await?
            .ok_or_else(|| SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{name}\" does not exist")))?;
        apply(&mut role, options, &mut self.notices)?;
        if role.name == ROOT_ROLE && (!role.superuser || !role.login) {
            return Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, "root stays a superuser that can log in"));
        }
        catalog::put_role(txn, &role)?;
        Ok(Output::command("ALTER ROLE"))
    }

    /// `DROP ROLE [IF EXISTS] name, ...`.
    pub(crate) async fn drop_roles(&mut self, if_exists: bool, names: &[ast::ObjectName]) -> Result<Output> {
        if !self.acts_as_superuser() {
            return Err(denied("drop role"));
        }
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        for name in names {
            let name = table_name(name)?;
            if name == self.user {
                return Err(SqlError::new(code::OBJECT_IN_USE, "current user cannot be dropped"));
            }
            if name == ROOT_ROLE {
                return Err(SqlError::new(
                    code::DEPENDENT_OBJECTS_STILL_EXIST,
                    "cannot drop role root because it is required by the database system",
                ));
            }
            if catalog::role(txn, &name).await?.is_none() {
                if if_exists {
                    self.notices.push(Notice::info(
                        code::SUCCESSFUL_COMPLETION,
                        format!("role \"{name}\" does not exist, skipping"),
                    ));
                    continue;
                }
                return Err(SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{name}\" does not exist")));
            }
            let dependents = crate::privileges::role_dependents(txn, &name).await?;
            if !dependents.is_empty() {
                return Err(SqlError::new(
                    code::DEPENDENT_OBJECTS_STILL_EXIST,
                    format!(
                        "role \"{name}\" cannot be dropped because some objects depend on it: {}",
                        dependents.join(", ")
                    ),
                ));
            }
            // Its memberships go with it, as in PostgreSQL.
            for mut member in catalog::list_roles(txn).await? {
                if member.member_of.contains(&name) {
                    member.member_of.retain(|r| r != &name);
                    catalog::put_role(txn, &member)?;
                }
            }
            catalog::delete_role(txn, &name)?;
        }
        Ok(Output::command("DROP ROLE"))
    }
}

/// Whether a token is `keyword`, unquoted.
pub(crate) fn is_keyword(token: &TokenWithSpan, keyword: Keyword) -> bool {
    matches!(&token.token, Token::Word(w) if w.keyword == keyword && w.quote_style.is_none())
}

/// PostgreSQL's `CREATE USER` and `ALTER USER` are `CREATE ROLE ... LOGIN` and `ALTER ROLE`;
/// the parser reads Snowflake's forms for them, so each statement that starts so is read as
/// its ROLE form. Returns the names the `CREATE USER` statements create (whose roles log in by
/// default).
pub(crate) fn user_as_role(tokens: &mut [TokenWithSpan]) -> Vec<String> {
    let is = is_keyword;
    let mut users = Vec::new();
    let mut words: Vec<usize> = Vec::new();
    for i in 0..tokens.len() {
        match &tokens[i].token {
            Token::Whitespace(_) => continue,
            Token::SemiColon => {
                words.clear();
                continue;
            }
            _ => words.push(i),
        }
        let [first, second] = words.as_slice() else { continue };
        let (first, second) = (*first, *second);
        if !is(&tokens[second], Keyword::USER)
            || !(is(&tokens[first], Keyword::CREATE) || is(&tokens[first], Keyword::ALTER))
        {
            continue;
        }
        tokens[second].token = Token::make_keyword("ROLE");
        if !is(&tokens[first], Keyword::CREATE) {
            continue;
        }
        // The name: the next word, after IF NOT EXISTS if given.
        let mut rest = tokens[second + 1..].iter().filter(|t| !matches!(t.token, Token::Whitespace(_)));
        let mut name = rest.next();
        if name.is_some_and(|t| is(t, Keyword::IF)) {
            name = rest.nth(2);
        }
        if let Some(Token::Word(word)) = name.map(|t| &t.token) {
            users.push(if word.quote_style.is_some() { word.value.clone() } else { word.value.to_lowercase() });
        }
    }
    users
}

/// What a login as `user` may use, read from the catalog at connection time: `None` if the
/// role does not exist or may not log in.
pub async fn login_role(kv: &crate::kv::NodeKv, user: &str) -> Result<Option<RoleDesc>> {
    let mut txn = kv.begin().await?;
    let role = catalog::role(&mut txn, user).await?;
    txn.rollback();
    Ok(role.filter(|r| r.login))
}

#[cfg(test)]
mod tests {
    use crate::session::parse;
    use datafusion::sql::sqlparser::ast::Statement;

    #[test]
    fn every_create_user_of_a_batch_logs_in_and_create_role_does_not() {
        let statements = parse(
            "CREATE ROLE readers; CREATE USER \"Alice\" WITH PASSWORD 'x'; CREATE USER IF NOT EXISTS bob; \
             ALTER USER bob WITH NOLOGIN",
        )
        .expect("parses");
        let logins: Vec<Option<bool>> = statements
            .iter()
            .filter_map(|s| match s {
                Statement::CreateRole(create) => Some(create.login),
                _ => None,
            })
            .collect();
        assert_eq!(logins, [None, Some(true), Some(true)]);
        assert!(matches!(statements[3], Statement::AlterRole { .. }));
    }
}
