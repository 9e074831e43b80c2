//! Privileges: PostgreSQL's access lists (`GRANT` / `REVOKE` on tables, databases and the
//! `public` schema), role membership (`GRANT role TO role`), and the checks statements pass.
//!
//! An object has an owner and an access list of items `grantee=privileges/grantor`, PostgreSQL's
//! `aclitem` (`alice=r*w/root`: SELECT with grant option and UPDATE, granted by root; an empty
//! grantee is PUBLIC). An object whose list no GRANT or REVOKE changed has its kind's default
//! (PostgreSQL 15's): the owner may do everything to a table; PUBLIC may connect to a database
//! and use the `public` schema, but not create in it. A user holds the union of the items whose
//! grantee is the user, a role the user is a member of (directly or through other roles), or
//! PUBLIC. Superusers pass every check. Ownership (being, or being a member of, the owner) is
//! what ALTER, DROP, CREATE INDEX and GRANT need; the owner's own privileges are items like any
//! other, so an owner may revoke them from itself, as in PostgreSQL.
//!
//! What each statement needs: a read of a table needs SELECT, checked at every scan a plan makes
//! (joins, subqueries, cached plans of prepared statements and the point-read fast path alike);
//! INSERT, UPDATE, DELETE and TRUNCATE need their privilege on the target, and SELECT on it too
//! when they read it (a WHERE, RETURNING or a SET that reads a column); COPY FROM needs INSERT;
//! CREATE TABLE needs CREATE on the schema; ALTER TABLE, DROP TABLE / INDEX and CREATE INDEX need
//! ownership; databases, roles and role membership are the superusers'.

use crate::catalog::{self, AclObject, RoleDesc, TableAudit, TableDesc, ROOT_ROLE};
use crate::error::{code, Result, SqlError};
use crate::kv::Txn;
use crate::provider::StatementScope;
use crate::session::{ident_name, table_name, Notice, Output, Session};
use datafusion::sql::sqlparser::ast::{self, Action, GrantObjects, GranteesType};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Whitespace};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The grantee of an item that holds for every role (PostgreSQL's PUBLIC, shown as an empty
/// name in `aclitem`). No role can be named so (role names are 1 to 63 bytes).
pub const PUBLIC: &str = "";

/// A set of privileges, with PostgreSQL's bit order (which is also the order `aclitem` prints
/// its letters in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Privileges(u16);

impl Privileges {
    pub const NONE: Privileges = Privileges(0);
    pub const INSERT: Privileges = Privileges(1 << 0);
    pub const SELECT: Privileges = Privileges(1 << 1);
    pub const UPDATE: Privileges = Privileges(1 << 2);
    pub const DELETE: Privileges = Privileges(1 << 3);
    pub const TRUNCATE: Privileges = Privileges(1 << 4);
    pub const REFERENCES: Privileges = Privileges(1 << 5);
    pub const TRIGGER: Privileges = Privileges(1 << 6);
    pub const USAGE: Privileges = Privileges(1 << 8);
    pub const CREATE: Privileges = Privileges(1 << 9);
    pub const TEMPORARY: Privileges = Privileges(1 << 10);
    pub const CONNECT: Privileges = Privileges(1 << 11);

    pub const fn union(self, other: Privileges) -> Privileges {
        Privileges(self.0 | other.0)
    }

    pub const fn intersect(self, other: Privileges) -> Privileges {
        Privileges(self.0 & other.0)
    }

    pub const fn minus(self, other: Privileges) -> Privileges {
        Privileges(self.0 & !other.0)
    }

    pub const fn contains(self, other: Privileges) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Each privilege of the set: its bit, its `aclitem` letter and its SQL name.
    pub fn each(self) -> impl Iterator<Item = (Privileges, char, &'static str)> {
        LETTERS.into_iter().filter(move |(p, _, _)| self.contains(*p))
    }
}

const LETTERS: [(Privileges, char, &str); 11] = [
    (Privileges::INSERT, 'a', "INSERT"),
    (Privileges::SELECT, 'r', "SELECT"),
    (Privileges::UPDATE, 'w', "UPDATE"),
    (Privileges::DELETE, 'd', "DELETE"),
    (Privileges::TRUNCATE, 'D', "TRUNCATE"),
    (Privileges::REFERENCES, 'x', "REFERENCES"),
    (Privileges::TRIGGER, 't', "TRIGGER"),
    (Privileges::USAGE, 'U', "USAGE"),
    (Privileges::CREATE, 'C', "CREATE"),
    (Privileges::TEMPORARY, 'T', "TEMPORARY"),
    (Privileges::CONNECT, 'c', "CONNECT"),
];

/// One entry of an access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclItem {
    /// A role's name, or [`PUBLIC`].
    pub grantee: String,
    pub grantor: String,
    pub privileges: Privileges,
    /// Those of `privileges` the grantee may grant on (`WITH GRANT OPTION`).
    pub grantable: Privileges,
}

/// A role name as `aclitem` prints it: quoted when it is not a plain lower-case identifier.
fn acl_name(name: &str) -> Cow<'_, str> {
    let plain = name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(format!("\"{}\"", name.replace('"', "\"\"")))
    }
}

impl fmt::Display for AclItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", acl_name(&self.grantee))?;
        for (privilege, letter, _) in self.privileges.each() {
            write!(f, "{letter}")?;
            if self.grantable.contains(privilege) {
                write!(f, "*")?;
            }
        }
        write!(f, "/{}", acl_name(&self.grantor))
    }
}

/// The kinds of objects that have access lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Table,
    Database,
    Schema,
}

impl Kind {
    /// Every privilege objects of this kind have (what `ALL` grants).
    pub const fn all(self) -> Privileges {
        match self {
            Kind::Table => Privileges(0b111_1111),
            Kind::Database => Privileges::CREATE.union(Privileges::TEMPORARY).union(Privileges::CONNECT),
            Kind::Schema => Privileges::USAGE.union(Privileges::CREATE),
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Kind::Table => "table",
            Kind::Database => "database",
            Kind::Schema => "schema",
        }
    }

    /// The access list of an object of this kind that no GRANT or REVOKE changed
    /// (PostgreSQL 15's `acldefault`, with the `public` schema's as `initdb` leaves it).
    pub fn default_acl(self, owner: &str) -> Vec<AclItem> {
        let item = |grantee: &str, privileges: Privileges| AclItem {
            grantee: grantee.to_string(),
            grantor: owner.to_string(),
            privileges,
            grantable: Privileges::NONE,
        };
        match self {
            Kind::Table => vec![item(owner, self.all())],
            Kind::Database => {
                vec![item(PUBLIC, Privileges::TEMPORARY.union(Privileges::CONNECT)), item(owner, self.all())]
            }
            Kind::Schema => vec![item(owner, self.all()), item(PUBLIC, Privileges::USAGE)],
        }
    }
}

impl Kind {
    /// An object's access list, or its kind's default if it has none of its own.
    pub fn acl_or_default(self, acl: Option<Vec<AclItem>>, owner: &str) -> Vec<AclItem> {
        acl.unwrap_or_else(|| self.default_acl(owner))
    }
}

/// A table's access list, its default when it has none of its own.
pub fn table_acl(desc: &TableDesc) -> Cow<'_, [AclItem]> {
    match &desc.acl {
        Some(acl) => Cow::Borrowed(acl),
        None => Cow::Owned(Kind::Table.default_acl(&desc.owner)),
    }
}

/// Databases and their `public` schemas belong to root (only superusers create databases).
pub const DATABASE_OWNER: &str = ROOT_ROLE;

/// A database's or schema's access list, its default when it has none of its own.
pub async fn object_acl(txn: &mut Txn, object: AclObject) -> Result<Vec<AclItem>> {
    let kind = match object {
        AclObject::Database(_) => Kind::Database,
        AclObject::Schema(_) => Kind::Schema,
    };
    Ok(kind.acl_or_default(catalog::object_acl(txn, object).await?, DATABASE_OWNER))
}

/// The roles whose privileges `user` has: itself, every role it is a member of, directly or
/// through other roles, and PUBLIC.
pub fn closure(roles: &[RoleDesc], user: &str) -> BTreeSet<String> {
    closure_with(user, |name| roles.iter().find(|r| r.name == name).map(|r| r.member_of.as_slice()))
}

/// [`closure`] over any lookup of a role's memberships (`None`: no such role).
pub fn closure_with<'a>(user: &str, member_of: impl Fn(&str) -> Option<&'a [String]>) -> BTreeSet<String> {
    let mut held: BTreeSet<String> = [PUBLIC.to_string(), user.to_string()].into();
    let mut pending = vec![user.to_string()];
    while let Some(name) = pending.pop() {
        let Some(parents) = member_of(&name) else { continue };
        for parent in parents {
            if held.insert(parent.clone()) {
                pending.push(parent.clone());
            }
        }
    }
    held
}

/// Who a statement runs as, for its checks.
#[derive(Debug, Clone)]
pub enum Actor {
    Superuser,
    /// A user that is not a superuser, with the roles whose privileges it has ([`closure`]).
    User {
        name: String,
        roles: Arc<BTreeSet<String>>,
    },
}

impl Actor {
    /// Whether the actor is, or is a member of, `owner`.
    pub fn owns(&self, owner: &str) -> bool {
        match self {
            Actor::Superuser => true,
            Actor::User { roles, .. } => roles.contains(owner),
        }
    }

    /// The privileges the actor holds in `acl`, and those it may grant.
    fn held(&self, kind: Kind, owner: &str, acl: &[AclItem]) -> (Privileges, Privileges) {
        match self {
            Actor::Superuser => (kind.all(), kind.all()),
            Actor::User { roles, .. } => {
                let mut held = (Privileges::NONE, Privileges::NONE);
                for item in acl.iter().filter(|item| roles.contains(&item.grantee)) {
                    held.0 = held.0.union(item.privileges);
                    held.1 = held.1.union(item.grantable);
                }
                if roles.contains(owner) {
                    // An owner may always grant on what it owns.
                    held.1 = kind.all();
                }
                held
            }
        }
    }

    /// Whether the actor holds all of `wanted` on the object (and may grant them, when
    /// `grantable`).
    pub fn holds(&self, kind: Kind, owner: &str, acl: &[AclItem], wanted: Privileges, grantable: bool) -> bool {
        let (held, options) = self.held(kind, owner, acl);
        held.contains(wanted) && (!grantable || options.contains(wanted))
    }

    /// `Err` with PostgreSQL's 42501 unless the actor holds all of `wanted` on the object.
    pub fn require(&self, kind: Kind, name: &str, owner: &str, acl: &[AclItem], wanted: Privileges) -> Result<()> {
        if self.holds(kind, owner, acl, wanted, false) {
            return Ok(());
        }
        Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, format!("permission denied for {} {name}", kind.noun())))
    }

    pub fn require_table(&self, desc: &TableDesc, wanted: Privileges) -> Result<()> {
        self.require(Kind::Table, &desc.name, &desc.owner, &table_acl(desc), wanted)
    }

    /// `Err` with PostgreSQL's 42501 unless the actor owns the object.
    pub fn require_owner(&self, kind: Kind, name: &str, owner: &str) -> Result<()> {
        if self.owns(owner) {
            return Ok(());
        }
        Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, format!("must be owner of {} {name}", kind.noun())))
    }
}

/// The actor of the statement running in `scope`: the session's login, with its roles read
/// through the statement's transaction once per statement (a GRANT committed by another session
/// counts from the next statement on, as in PostgreSQL).
pub async fn actor(txn: &mut Txn, scope: &Mutex<StatementScope>) -> Result<Actor> {
    let (user, roles) = {
        let scope = scope.lock().expect("scope lock");
        match &scope.checked_user {
            None => return Ok(Actor::Superuser),
            Some(user) => (user.clone(), scope.roles.clone()),
        }
    };
    let roles = match roles {
        Some(roles) => roles,
        None => {
            let roles = Arc::new(closure(&catalog::list_roles(txn).await?, &user));
            scope.lock().expect("scope lock").roles = Some(roles.clone());
            roles
        }
    };
    Ok(Actor::User { name: user, roles })
}

/// Every access of a table passes here: `Err` with 42501 unless the statement's actor holds
/// `wanted` on the table, and the access noted for the audit log if the table is audited for
/// it (also when refused).
pub async fn check_table(
    txn: &mut Txn,
    scope: &Mutex<StatementScope>,
    desc: &TableDesc,
    wanted: Privileges,
) -> Result<()> {
    let write = !wanted.minus(Privileges::SELECT).is_empty();
    let audited = match desc.audit {
        TableAudit::Off => false,
        TableAudit::Write => write,
        TableAudit::All => true,
    };
    if audited {
        let mut scope = scope.lock().expect("scope lock");
        match scope.audited.iter_mut().find(|(name, _)| name == &desc.name) {
            Some(seen) => seen.1 |= write,
            None => scope.audited.push((desc.name.clone(), write)),
        }
    }
    actor(txn, scope).await?.require_table(desc, wanted)
}

/// `Err` with 42501 unless the statement's actor owns the table.
pub async fn check_table_owner(txn: &mut Txn, scope: &Mutex<StatementScope>, desc: &TableDesc) -> Result<()> {
    actor(txn, scope).await?.require_owner(Kind::Table, &desc.name, &desc.owner)
}

/// At login: `Err` (42501, which the caller sends as FATAL) unless `user` may connect to
/// `database` (CONNECT, which PUBLIC holds by default). A database that does not exist is left to
/// the session to report. Returns the role's connection limit (none for superusers).
pub async fn check_connect(kv: &crate::kv::NodeKv, user: &str, superuser: bool, database: &str) -> Result<Option<u32>> {
    if superuser {
        return Ok(None);
    }
    let mut txn = kv.begin().await?;
    let outcome = async {
        let all = catalog::list_roles(&mut txn).await?;
        let limit = all.iter().find(|r| r.name == user).and_then(|r| r.connection_limit);
        let Some(desc) = catalog::database(&mut txn, database).await? else { return Ok(limit) };
        let acl = object_acl(&mut txn, AclObject::Database(desc.id)).await?;
        let roles = Arc::new(closure(&all, user));
        let actor = Actor::User { name: user.to_string(), roles };
        actor.require(Kind::Database, database, DATABASE_OWNER, &acl, Privileges::CONNECT).map_err(|_| {
            SqlError::new(
                code::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for database \"{database}\": the user does not have CONNECT privilege"),
            )
        })?;
        Ok(limit)
    }
    .await;
    txn.rollback();
    outcome
}

/// The connections each role has open on this node, for `CONNECTION LIMIT`.
#[derive(Default)]
pub struct RoleConnections(Arc<Mutex<std::collections::HashMap<String, u32>>>);

/// One open connection of a role; dropped with its connection.
pub struct RoleConnection {
    counts: Arc<Mutex<std::collections::HashMap<String, u32>>>,
    role: String,
}

impl RoleConnections {
    /// Counts a new connection of `role`, or `None` if it has `limit` open already.
    pub fn open(&self, role: &str, limit: u32) -> Option<RoleConnection> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let open = counts.entry(role.to_string()).or_insert(0);
        if *open >= limit {
            return None;
        }
        *open += 1;
        Some(RoleConnection { counts: self.0.clone(), role: role.to_string() })
    }
}

impl Drop for RoleConnection {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = counts.get_mut(&self.role) {
            assert!(*open > 0, "a role's connection closed more often than opened");
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.role);
            }
        }
    }
}

/// PostgreSQL's `GRANT role TO role` has no `ON`; the parser reads role names only after the
/// word ROLE (Snowflake's `GRANT ROLE r TO ...`), so each granted name of such a GRANT or REVOKE
/// gets one. Returns the tokens to parse.
pub(crate) fn membership_as_roles(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let is = crate::roles::is_keyword;
    if !tokens.iter().any(|t| is(t, Keyword::GRANT) || is(t, Keyword::REVOKE)) {
        return tokens;
    }
    let mut out = Vec::with_capacity(tokens.len());
    // Where the current statement stands: at its first word, inside the role list of a
    // membership GRANT/REVOKE (expecting a name), or elsewhere.
    let mut at_start = true;
    let mut in_list = false;
    for (i, token) in tokens.iter().enumerate() {
        if matches!(token.token, Token::Whitespace(_)) {
            out.push(token.clone());
            continue;
        }
        if token.token == Token::SemiColon {
            at_start = true;
            in_list = false;
            out.push(token.clone());
            continue;
        }
        if at_start {
            at_start = false;
            if is(token, Keyword::GRANT) || is(token, Keyword::REVOKE) {
                // A membership statement has no ON before its TO / FROM.
                let rest = tokens[i + 1..].iter().take_while(|t| t.token != Token::SemiColon);
                let mut on = false;
                for t in rest {
                    if is(t, Keyword::TO) || is(t, Keyword::FROM) {
                        break;
                    }
                    on |= is(t, Keyword::ON);
                }
                in_list = !on;
                out.push(token.clone());
                out.push(TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space)));
                if in_list {
                    out.push(TokenWithSpan::wrap(Token::make_keyword("ROLE")));
                }
                continue;
            }
        } else if in_list {
            if is(token, Keyword::TO) || is(token, Keyword::FROM) {
                in_list = false;
            } else if token.token == Token::Comma {
                out.push(token.clone());
                out.push(TokenWithSpan::wrap(Token::Whitespace(Whitespace::Space)));
                out.push(TokenWithSpan::wrap(Token::make_keyword("ROLE")));
                continue;
            }
        }
        out.push(token.clone());
    }
    out
}

/// What a GRANT or REVOKE is on.
enum Target {
    Tables(Vec<String>),
    AllTables,
    Database(String),
    Schema,
    Roles(Vec<String>),
}

fn target(privileges: &ast::Privileges, objects: &Option<GrantObjects>) -> Result<Target> {
    let only_public = |schemas: &[ast::ObjectName]| -> Result<()> {
        for schema in schemas {
            let name = table_name(schema)?;
            if name != catalog::PUBLIC_SCHEMA {
                return Err(SqlError::new(code::INVALID_SCHEMA_NAME, format!("schema \"{name}\" does not exist")));
            }
        }
        Ok(())
    };
    match objects {
        None => {
            let ast::Privileges::Actions(actions) = privileges else {
                return Err(SqlError::new(code::SYNTAX_ERROR, "GRANT ALL needs ON and an object"));
            };
            let mut roles = Vec::new();
            for action in actions {
                match action {
                    Action::Role { role } => roles.push(table_name(role)?),
                    other => return Err(SqlError::new(code::SYNTAX_ERROR, format!("{other} needs ON and an object"))),
                }
            }
            Ok(Target::Roles(roles))
        }
        Some(GrantObjects::Tables(names)) => Ok(Target::Tables(names.iter().map(table_name).collect::<Result<_>>()?)),
        Some(GrantObjects::AllTablesInSchema { schemas }) => {
            only_public(schemas)?;
            Ok(Target::AllTables)
        }
        Some(GrantObjects::Schemas(schemas)) => {
            only_public(schemas)?;
            Ok(Target::Schema)
        }
        Some(GrantObjects::Databases(names)) => match names.as_slice() {
            [name] => Ok(Target::Database(table_name(name)?)),
            _ => Err(SqlError::unsupported("GRANT on several databases in one statement")),
        },
        Some(other) => Err(SqlError::unsupported(format!("GRANT ON {other}"))),
    }
}

/// The privileges a GRANT or REVOKE names, for objects of `kind`.
fn named_privileges(privileges: &ast::Privileges, kind: Kind) -> Result<Privileges> {
    let actions = match privileges {
        ast::Privileges::All { .. } => return Ok(kind.all()),
        ast::Privileges::Actions(actions) => actions,
    };
    let mut out = Privileges::NONE;
    for action in actions {
        let columns = match action {
            Action::Select { columns } | Action::Insert { columns } | Action::Update { columns } => columns.as_ref(),
            Action::References { columns } => columns.as_ref(),
            _ => None,
        };
        if columns.is_some_and(|c| !c.is_empty()) {
            return Err(SqlError::unsupported("column privileges (grant on the whole table)"));
        }
        let privilege = match action {
            Action::Select { .. } => Privileges::SELECT,
            Action::Insert { .. } => Privileges::INSERT,
            Action::Update { .. } => Privileges::UPDATE,
            Action::Delete => Privileges::DELETE,
            Action::Truncate => Privileges::TRUNCATE,
            Action::References { .. } => Privileges::REFERENCES,
            Action::Trigger => Privileges::TRIGGER,
            Action::Usage => Privileges::USAGE,
            Action::Create { obj_type: None } => Privileges::CREATE,
            Action::Temporary => Privileges::TEMPORARY,
            Action::Connect => Privileges::CONNECT,
            other => return Err(SqlError::new(code::SYNTAX_ERROR, format!("unrecognized privilege type \"{other}\""))),
        };
        if !kind.all().contains(privilege) {
            let name = privilege.each().next().map_or("?", |(_, _, name)| name);
            return Err(SqlError::new(
                code::INVALID_GRANT_OPERATION,
                format!("invalid privilege type {name} for {}", kind.noun()),
            ));
        }
        out = out.union(privilege);
    }
    Ok(out)
}

/// The roles a GRANT or REVOKE names, checked to exist; [`PUBLIC`] for PUBLIC.
async fn grantees(txn: &mut Txn, grantees: &[ast::Grantee]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(grantees.len());
    for grantee in grantees {
        if grantee.grantee_type == GranteesType::Public {
            out.push(PUBLIC.to_string());
            continue;
        }
        let name = match &grantee.name {
            Some(ast::GranteeName::ObjectName(name)) => table_name(name)?,
            _ => return Err(SqlError::new(code::SYNTAX_ERROR, format!("a role name, not \"{grantee}\""))),
        };
        if name.eq_ignore_ascii_case("public") {
            out.push(PUBLIC.to_string());
            continue;
        }
        if catalog::role(txn, &name).await?.is_none() {
            return Err(SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{name}\" does not exist")));
        }
        out.push(name);
    }
    Ok(out)
}

/// Adds `privileges` (and their grant option when `grantable`) for `grantee` from `grantor`.
fn add(acl: &mut Vec<AclItem>, grantor: &str, grantee: &str, privileges: Privileges, grantable: bool) {
    let options = if grantable { privileges } else { Privileges::NONE };
    match acl.iter_mut().find(|item| item.grantee == grantee && item.grantor == grantor) {
        Some(item) => {
            item.privileges = item.privileges.union(privileges);
            item.grantable = item.grantable.union(options);
        }
        None => acl.push(AclItem {
            grantee: grantee.to_string(),
            grantor: grantor.to_string(),
            privileges,
            grantable: options,
        }),
    }
}

/// Takes `privileges` from `grantee`'s items granted by `grantor` (by anyone when `None`),
/// and drops the items left empty.
fn remove(acl: &mut Vec<AclItem>, grantor: Option<&str>, grantee: &str, privileges: Privileges) {
    for item in acl.iter_mut().filter(|item| item.grantee == grantee && grantor.is_none_or(|g| item.grantor == g)) {
        item.privileges = item.privileges.minus(privileges);
        item.grantable = item.grantable.minus(privileges);
    }
    acl.retain(|item| !item.privileges.is_empty());
}

/// One GRANT or REVOKE of privileges on one object.
struct Change<'a> {
    grant: bool,
    privileges: Privileges,
    grantees: &'a [String],
    with_grant_option: bool,
}

impl Change<'_> {
    /// Applies the change to an object's list, as `actor` may: a superuser or the owner acts
    /// for the owner (and its REVOKE takes the privileges whoever granted them); anyone else
    /// grants what it holds with grant option, and revokes what it granted. As in PostgreSQL,
    /// one who holds nothing on the object gets 42501, and one who holds privileges but not
    /// the grant option of some gets a warning (returned) and those left out.
    fn apply(
        &self,
        actor: &Actor,
        kind: Kind,
        name: &str,
        owner: &str,
        acl: &mut Vec<AclItem>,
    ) -> Result<Option<String>> {
        let owner_acts = actor.owns(owner);
        let grantor = match actor {
            _ if owner_acts => owner.to_string(),
            Actor::User { name, .. } => name.clone(),
            Actor::Superuser => owner.to_string(),
        };
        let (held, grantable) = actor.held(kind, owner, acl);
        if !owner_acts && held.is_empty() && grantable.is_empty() {
            return Err(SqlError::new(
                code::INSUFFICIENT_PRIVILEGE,
                format!("permission denied for {} {name}", kind.noun()),
            ));
        }
        let privileges = if owner_acts { self.privileges } else { self.privileges.intersect(grantable) };
        let (verb, none) = if self.grant { ("granted", "were") } else { ("revoked", "could be") };
        let warning = if privileges.is_empty() {
            Some(format!("no privileges {none} {verb} for \"{name}\""))
        } else if privileges != self.privileges {
            Some(format!("not all privileges {none} {verb} for \"{name}\""))
        } else {
            None
        };
        for grantee in self.grantees {
            if self.grant {
                if self.with_grant_option && grantee == PUBLIC {
                    return Err(SqlError::new(
                        code::INVALID_GRANT_OPERATION,
                        "grant options can only be granted to roles",
                    ));
                }
                add(acl, &grantor, grantee, privileges, self.with_grant_option);
            } else {
                remove(acl, if owner_acts { None } else { Some(&grantor) }, grantee, privileges);
            }
        }
        acl.retain(|item| !item.privileges.is_empty());
        // A list that breaks these would be stored in the catalog and replicated: stop instead.
        for item in acl.iter() {
            assert!(kind.all().contains(item.privileges), "a privilege foreign to a {}: {item}", kind.noun());
            assert!(item.privileges.contains(item.grantable), "a grant option without its privilege: {item}");
            assert!(item.grantee != PUBLIC || item.grantable.is_empty(), "PUBLIC with a grant option: {item}");
        }
        Ok(warning)
    }
}

/// Whether an expression reads a column (an UPDATE whose SET reads one needs SELECT too).
pub fn reads_columns(expr: &ast::Expr) -> bool {
    let mut reads = false;
    let _ = ast::visit_expressions(expr, |e: &ast::Expr| {
        reads |= matches!(e, ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_));
        std::ops::ControlFlow::<()>::Continue(())
    });
    reads
}

impl Session {
    /// `Err` with 42501 unless the session may do `wanted` to the table (locks the statement's
    /// transaction; with it held, use [`check_table`]).
    pub(crate) async fn require(&self, desc: &TableDesc, wanted: Privileges) -> Result<()> {
        if self.scope.lock().expect("scope lock").checked_user.is_none() && desc.audit == TableAudit::Off {
            return Ok(());
        }
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        check_table(txn, &self.scope, desc, wanted).await
    }

    /// `GRANT privileges ON object TO roles [WITH GRANT OPTION]` and `GRANT role TO roles`.
    pub(crate) async fn grant(&mut self, grant: &ast::Grant) -> Result<Output> {
        if grant.granted_by.is_some() || grant.as_grantor.is_some() || grant.current_grants.is_some() {
            return Err(SqlError::unsupported("GRANTED BY"));
        }
        self.change_privileges(true, &grant.privileges, &grant.objects, &grant.grantees, grant.with_grant_option)
            .await?;
        Ok(Output::command(if matches!(target(&grant.privileges, &grant.objects)?, Target::Roles(_)) {
            "GRANT ROLE"
        } else {
            "GRANT"
        }))
    }

    /// `REVOKE privileges ON object FROM roles` and `REVOKE role FROM roles`.
    pub(crate) async fn revoke(&mut self, revoke: &ast::Revoke) -> Result<Output> {
        if revoke.granted_by.is_some() {
            return Err(SqlError::unsupported("GRANTED BY"));
        }
        self.change_privileges(false, &revoke.privileges, &revoke.objects, &revoke.grantees, false).await?;
        Ok(Output::command(if matches!(target(&revoke.privileges, &revoke.objects)?, Target::Roles(_)) {
            "REVOKE ROLE"
        } else {
            "REVOKE"
        }))
    }

    async fn change_privileges(
        &mut self,
        grant: bool,
        privileges: &ast::Privileges,
        objects: &Option<GrantObjects>,
        grantees_given: &[ast::Grantee],
        with_grant_option: bool,
    ) -> Result<()> {
        let target = target(privileges, objects)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        let actor = actor(txn, &self.scope).await?;
        let grantees = grantees(txn, grantees_given).await?;
        let kind = match &target {
            Target::Roles(roles) => {
                return change_membership(txn, &actor, grant, roles, &grantees, &mut self.notices).await;
            }
            Target::Tables(_) | Target::AllTables => Kind::Table,
            Target::Database(_) => Kind::Database,
            Target::Schema => Kind::Schema,
        };
        let change =
            Change { grant, privileges: named_privileges(privileges, kind)?, grantees: &grantees, with_grant_option };
        match target {
            Target::Tables(names) => {
                for name in names {
                    let mut desc = catalog::require_table(txn, self.database, &name).await?;
                    let mut acl = table_acl(&desc).into_owned();
                    if let Some(warning) = change.apply(&actor, kind, &desc.name, &desc.owner, &mut acl)? {
                        self.notices.push(Notice::warning(code::WARNING, &warning));
                    }
                    desc.acl = Some(acl);
                    catalog::put_table(txn, &desc)?;
                }
            }
            Target::AllTables => {
                for mut desc in catalog::list_tables(txn, self.database).await? {
                    let mut acl = table_acl(&desc).into_owned();
                    if let Some(warning) = change.apply(&actor, kind, &desc.name, &desc.owner, &mut acl)? {
                        self.notices.push(Notice::warning(code::WARNING, &warning));
                    }
                    desc.acl = Some(acl);
                    catalog::put_table(txn, &desc)?;
                }
            }
            Target::Database(name) => {
                let database = catalog::require_database(txn, &name).await?;
                let object = AclObject::Database(database.id);
                let mut acl = object_acl(txn, object).await?;
                if let Some(warning) = change.apply(&actor, kind, &name, DATABASE_OWNER, &mut acl)? {
                    self.notices.push(Notice::warning(code::WARNING, &warning));
                }
                catalog::put_object_acl(txn, object, &acl)?;
            }
            Target::Schema => {
                let object = AclObject::Schema(self.database);
                let mut acl = object_acl(txn, object).await?;
                if let Some(warning) = change.apply(&actor, kind, catalog::PUBLIC_SCHEMA, DATABASE_OWNER, &mut acl)? {
                    self.notices.push(Notice::warning(code::WARNING, &warning));
                }
                catalog::put_object_acl(txn, object, &acl)?;
            }
            Target::Roles(_) => unreachable!("handled above"),
        }
        Ok(())
    }
}

/// `GRANT role TO member` / `REVOKE role FROM member`: superusers only (Atoll has no
/// CREATEROLE or ADMIN OPTION).
async fn change_membership(
    txn: &mut Txn,
    actor: &Actor,
    grant: bool,
    roles: &[String],
    members: &[String],
    notices: &mut Vec<Notice>,
) -> Result<()> {
    if !matches!(actor, Actor::Superuser) {
        return Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, "permission denied to grant or revoke a role"));
    }
    if members.iter().any(|m| m == PUBLIC) {
        return Err(SqlError::new(code::INVALID_GRANT_OPERATION, "role membership cannot be granted to PUBLIC"));
    }
    for role in roles {
        if catalog::role(txn, role).await?.is_none() {
            return Err(SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{role}\" does not exist")));
        }
        for member_name in members {
            let all = catalog::list_roles(txn).await?;
            let mut member = all
                .iter()
                .find(|r| &r.name == member_name)
                .cloned()
                .ok_or_else(|| SqlError::internal("a checked role vanished"))?;
            let is_member = member.member_of.contains(role);
            if grant {
                // Membership may not loop: `role` must not already have `member`'s rights.
                if closure(&all, role).contains(member_name) {
                    return Err(SqlError::new(
                        code::INVALID_GRANT_OPERATION,
                        format!("role \"{member_name}\" is a member of role \"{role}\""),
                    ));
                }
                if is_member {
                    notices.push(Notice::info(
                        code::SUCCESSFUL_COMPLETION,
                        format!("role \"{member_name}\" is already a member of role \"{role}\""),
                    ));
                    continue;
                }
                member.member_of.push(role.clone());
            } else {
                if !is_member {
                    notices.push(Notice::warning(
                        code::WARNING,
                        &format!("role \"{member_name}\" is not a member of role \"{role}\""),
                    ));
                    continue;
                }
                member.member_of.retain(|r| r != role);
            }
            catalog::put_role(txn, &member)?;
        }
    }
    Ok(())
}

impl Session {
    /// `SET ROLE name` / `SET ROLE NONE`: a superuser may take any role, others the roles they
    /// are members of (42501 otherwise, as in PostgreSQL). Checks use the role's privileges
    /// from the next statement on, and new tables belong to it.
    pub(crate) async fn set_role(&mut self, name: Option<&ast::Ident>) -> Result<Output> {
        let Some(name) = name.map(ident_name) else {
            self.act_as(None);
            return Ok(Output::command("SET"));
        };
        let role = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
            let all = catalog::list_roles(txn).await?;
            let role = all.iter().find(|r| r.name == name).cloned().ok_or_else(|| {
                SqlError::new(code::INVALID_PARAMETER_VALUE, format!("role \"{name}\" does not exist"))
            })?;
            if !self.superuser && !closure(&all, &self.user).contains(&name) {
                return Err(SqlError::new(
                    code::INSUFFICIENT_PRIVILEGE,
                    format!("permission denied to set role \"{name}\""),
                ));
            }
            role
        };
        self.act_as(Some((role.name, role.superuser)));
        Ok(Output::command("SET"))
    }

    /// `CREATE TABLE`'s check and the new table's owner: CREATE on the schema, and the session's
    /// user as owner (root for a superuser session whose user is no role, as on insecure nodes).
    pub(crate) async fn new_table_owner(&self, txn: &mut Txn) -> Result<String> {
        let actor = actor(txn, &self.scope).await?;
        let acl = object_acl(txn, AclObject::Schema(self.database)).await?;
        actor.require(Kind::Schema, catalog::PUBLIC_SCHEMA, DATABASE_OWNER, &acl, Privileges::CREATE)?;
        match actor {
            Actor::User { name, .. } => Ok(name),
            Actor::Superuser if catalog::role(txn, self.current_user()).await?.is_some() => {
                Ok(self.current_user().to_string())
            }
            Actor::Superuser => Ok(ROOT_ROLE.to_string()),
        }
    }

    /// `ALTER TABLE t OWNER TO role`: the owner (who must be a member of the new owner) or a
    /// superuser. Items that name the old owner name the new one, as in PostgreSQL.
    pub(crate) async fn change_owner(&self, txn: &mut Txn, desc: &mut TableDesc, new_owner: &ast::Owner) -> Result<()> {
        let new_owner = match new_owner {
            ast::Owner::Ident(ident) => ident_name(ident),
            ast::Owner::CurrentUser | ast::Owner::CurrentRole => self.current_user().to_string(),
            ast::Owner::SessionUser => self.user.clone(),
        };
        if catalog::role(txn, &new_owner).await?.is_none() {
            return Err(SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{new_owner}\" does not exist")));
        }
        let actor = actor(txn, &self.scope).await?;
        actor.require_owner(Kind::Table, &desc.name, &desc.owner)?;
        if !actor.owns(&new_owner) {
            return Err(SqlError::new(
                code::INSUFFICIENT_PRIVILEGE,
                format!("must be able to SET ROLE \"{new_owner}\""),
            ));
        }
        let old = std::mem::replace(&mut desc.owner, new_owner.clone());
        if let Some(acl) = &mut desc.acl {
            let mut renamed: Vec<AclItem> = Vec::with_capacity(acl.len());
            for mut item in acl.drain(..) {
                if item.grantee == old {
                    item.grantee = new_owner.clone();
                }
                if item.grantor == old {
                    item.grantor = new_owner.clone();
                }
                // Two items may now be one grantee's from one grantor: they merge.
                add(&mut renamed, &item.grantor, &item.grantee, item.privileges, false);
                add(&mut renamed, &item.grantor, &item.grantee, item.grantable, true);
            }
            *acl = renamed;
        }
        Ok(())
    }
}

/// What keeps a role from being dropped (PostgreSQL's 2BP01 and its detail lines): tables it
/// owns, and access lists that name it.
pub async fn role_dependents(txn: &mut Txn, role: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let names = |acl: &[AclItem]| acl.iter().any(|i| i.grantee == role || i.grantor == role);
    for database in catalog::list_databases(txn).await? {
        for table in catalog::list_tables(txn, database.id).await? {
            if table.owner == role {
                out.push(format!("owner of table {}", table.name));
            } else if table.acl.as_deref().is_some_and(names) {
                out.push(format!("privileges for table {}", table.name));
            }
        }
        if catalog::object_acl(txn, AclObject::Database(database.id)).await?.as_deref().is_some_and(names) {
            out.push(format!("privileges for database {}", database.name));
        }
        if catalog::object_acl(txn, AclObject::Schema(database.id)).await?.as_deref().is_some_and(names) {
            out.push(format!("privileges for schema public in database {}", database.name));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;

    /// An access list as PostgreSQL's `aclitem[]` prints it: `{a=r/root,=U/root}`.
    fn acl_text(acl: &[AclItem]) -> String {
        format!("{{{}}}", acl.iter().map(|item| item.to_string()).collect::<Vec<_>>().join(","))
    }

    fn role(name: &str, member_of: &[&str]) -> RoleDesc {
        RoleDesc { member_of: member_of.iter().map(|s| s.to_string()).collect(), ..RoleDesc::new(name.into()) }
    }

    fn user(roles: &[RoleDesc], name: &str) -> Actor {
        Actor::User { name: name.into(), roles: Arc::new(closure(roles, name)) }
    }

    #[test]
    fn acl_items_print_as_postgresql_prints_them() {
        let mut acl = Kind::Table.default_acl("root");
        add(&mut acl, "root", "alice", Privileges::SELECT.union(Privileges::UPDATE), false);
        add(&mut acl, "root", "alice", Privileges::SELECT, true);
        add(&mut acl, "root", PUBLIC, Privileges::INSERT, false);
        add(&mut acl, "root", "Mixed Case", Privileges::DELETE, false);
        assert_eq!(acl_text(&acl), "{root=arwdDxt/root,alice=r*w/root,=a/root,\"Mixed Case\"=d/root}");
        assert_eq!(acl_text(&Kind::Database.default_acl("root")), "{=Tc/root,root=CTc/root}");
        assert_eq!(acl_text(&Kind::Schema.default_acl("root")), "{root=UC/root,=U/root}");
        remove(&mut acl, None, "alice", Privileges::SELECT.union(Privileges::UPDATE));
        remove(&mut acl, Some("someone else"), PUBLIC, Privileges::INSERT);
        assert_eq!(acl_text(&acl), "{root=arwdDxt/root,=a/root,\"Mixed Case\"=d/root}");
    }

    #[test]
    fn privileges_come_from_the_user_its_roles_their_roles_and_public() {
        let roles = [role("alice", &["readers"]), role("readers", &["staff"]), role("staff", &[]), role("bob", &[])];
        let mut acl = Kind::Table.default_acl("root");
        add(&mut acl, "root", "staff", Privileges::SELECT, false);
        add(&mut acl, "root", PUBLIC, Privileges::INSERT, false);
        let alice = user(&roles, "alice");
        let bob = user(&roles, "bob");
        assert!(alice.require(Kind::Table, "t", "root", &acl, Privileges::SELECT.union(Privileges::INSERT)).is_ok());
        let denied = bob.require(Kind::Table, "t", "root", &acl, Privileges::SELECT).expect_err("bob reads");
        assert_eq!(denied.code, code::INSUFFICIENT_PRIVILEGE);
        assert_eq!(denied.message, "permission denied for table t");
        assert!(bob.require(Kind::Table, "t", "root", &acl, Privileges::INSERT).is_ok());
        assert!(alice.require_owner(Kind::Table, "t", "root").is_err());
        assert!(alice.require_owner(Kind::Table, "t", "staff").is_ok(), "a member of the owner owns");
        assert!(Actor::Superuser.require(Kind::Table, "t", "root", &[], Privileges::SELECT).is_ok());
    }

    #[test]
    fn only_the_owner_or_a_holder_of_the_grant_option_grants() {
        let roles = [role("alice", &[]), role("bob", &[]), role("carol", &[])];
        let (alice, bob) = (user(&roles, "alice"), user(&roles, "bob"));
        let grantees = ["carol".to_string()];
        let change =
            Change { grant: true, privileges: Privileges::SELECT, grantees: &grantees, with_grant_option: false };
        let mut acl = Kind::Table.default_acl("alice");
        assert!(change.apply(&bob, Kind::Table, "t", "alice", &mut acl).is_err(), "bob holds nothing");
        add(&mut acl, "alice", "bob", Privileges::INSERT, false);
        let warning = change.apply(&bob, Kind::Table, "t", "alice", &mut acl).expect("bob holds INSERT");
        assert_eq!(warning.as_deref(), Some("no privileges were granted for \"t\""));
        remove(&mut acl, None, "bob", Privileges::INSERT);
        change.apply(&alice, Kind::Table, "t", "alice", &mut acl).expect("the owner grants");
        add(&mut acl, "alice", "bob", Privileges::SELECT, true);
        change.apply(&bob, Kind::Table, "t", "alice", &mut acl).expect("bob has the grant option");
        assert_eq!(acl_text(&acl), "{alice=arwdDxt/alice,carol=r/alice,bob=r*/alice,carol=r/bob}");
        let revoke = Change { grant: false, ..change };
        revoke.apply(&bob, Kind::Table, "t", "alice", &mut acl).expect("bob revokes his grant");
        assert_eq!(acl_text(&acl), "{alice=arwdDxt/alice,carol=r/alice,bob=r*/alice}");
        revoke.apply(&Actor::Superuser, Kind::Table, "t", "alice", &mut acl).expect("superuser revokes");
        assert_eq!(acl_text(&acl), "{alice=arwdDxt/alice,bob=r*/alice}");
    }

    #[test]
    fn grant_names_only_privileges_of_the_object_kind() {
        let usage = ast::Privileges::Actions(vec![Action::Usage]);
        let error = named_privileges(&usage, Kind::Table).expect_err("USAGE on a table");
        assert_eq!(error.code, code::INVALID_GRANT_OPERATION);
        assert_eq!(named_privileges(&usage, Kind::Schema).expect("USAGE on a schema"), Privileges::USAGE);
        let all = ast::Privileges::All { with_privileges_keyword: true };
        assert_eq!(named_privileges(&all, Kind::Database).expect("ALL"), Kind::Database.all());
    }

    fn parse(sql: &str) -> ast::Statement {
        let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location().expect("tokens");
        let tokens = membership_as_roles(tokens);
        Parser::new(&PostgreSqlDialect {}).with_tokens_with_locations(tokens).parse_statement().expect("parses")
    }

    #[test]
    fn membership_grants_parse_as_role_grants_and_object_grants_are_left_alone() {
        let ast::Statement::Grant(grant) = parse("GRANT readers, \"Writers\" TO alice, bob") else { panic!("grant") };
        assert!(grant.objects.is_none());
        let ast::Privileges::Actions(actions) = &grant.privileges else { panic!("actions") };
        assert_eq!(actions.len(), 2);
        assert!(matches!(&actions[1], Action::Role { role } if role.to_string() == "\"Writers\""));
        let ast::Statement::Revoke(revoke) = parse("REVOKE readers FROM alice") else { panic!("revoke") };
        assert!(revoke.objects.is_none());
        let ast::Statement::Grant(grant) = parse("GRANT SELECT, UPDATE ON t TO alice") else { panic!("grant") };
        assert!(matches!(grant.objects, Some(GrantObjects::Tables(_))));
    }
}
