//! etcd's Auth API over SQL roles: one set of users and roles for both protocols.
//!
//! An etcd *user* is a role that may log in (`CREATE USER`, `etcdctl user add`); an etcd *role*
//! is a role that may not (`CREATE ROLE`, `etcdctl role add`), or `root`. etcd's `root` role,
//! which may do everything, is the superuser attribute: granting it to a user makes the user a
//! superuser, and a superuser's roles include `root`. A role's etcd key-range permissions
//! ([`KvPermission`]) live in its descriptor next to its SQL privileges; a user has those of
//! every role it is a member of (directly or through other roles) and its own.
//!
//! Whether the etcd API checks anything is the cluster's *auth enabled* setting
//! ([`AuthSettings`], under `0xFF 'c' "ea"`). A cluster that never set it has the default its
//! nodes start with: enabled on secure clusters (every etcd request names a user, by its client
//! certificate or a token), disabled on insecure ones, as etcd starts.
//!
//! Every change runs in one SQL transaction ([`change`]), retried on conflicts, so an etcd
//! `user add` and a concurrent `DROP ROLE` serialize like two SQL statements would.

use crate::catalog::{self, RoleDesc, ROOT_ROLE};
use crate::error::SqlError;
use crate::kv::{NodeKv, Txn};
use crate::privileges;
use crate::scram::Verifier;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most key-range permissions one role may hold: a permission check walks them all.
pub const KV_PERMISSIONS_MAX: usize = 1024;

/// What a key-range permission allows (etcd's `authpb.Permission.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvAccess {
    Read,
    Write,
    ReadWrite,
}

impl KvAccess {
    /// Whether holding `self` allows `need`.
    pub fn allows(self, need: KvAccess) -> bool {
        self == KvAccess::ReadWrite || self == need
    }

    /// etcd's enum value (READ = 0, WRITE = 1, READWRITE = 2).
    pub fn etcd_value(self) -> i32 {
        match self {
            KvAccess::Read => 0,
            KvAccess::Write => 1,
            KvAccess::ReadWrite => 2,
        }
    }

    pub fn from_etcd_value(value: i32) -> Option<KvAccess> {
        match value {
            0 => Some(KvAccess::Read),
            1 => Some(KvAccess::Write),
            2 => Some(KvAccess::ReadWrite),
            _ => None,
        }
    }
}

/// One key-range permission of a role, as etcd gives it: `range_end` empty for the one key
/// `key`, `[0]` for every key from `key` on, otherwise the keys in `[key, range_end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvPermission {
    pub key: Vec<u8>,
    pub range_end: Vec<u8>,
    pub access: KvAccess,
}

/// A key span as a half-open interval; `end` `None` is the end of the key space.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interval {
    start: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Interval {
    /// etcd's reading of `key` and `range_end`.
    fn of(key: &[u8], range_end: &[u8]) -> Interval {
        match range_end {
            [] => {
                let mut end = key.to_vec();
                end.push(0);
                Interval { start: key.to_vec(), end: Some(end) }
            }
            [0] => Interval { start: key.to_vec(), end: None },
            end => Interval { start: key.to_vec(), end: Some(end.to_vec()) },
        }
    }

    fn is_empty(&self) -> bool {
        self.end.as_ref().is_some_and(|end| *end <= self.start)
    }
}

/// Whether the union of `held` covers all of `want`.
fn covered(want: &Interval, held: &mut [Interval]) -> bool {
    if want.is_empty() {
        return true;
    }
    held.sort_by(|a, b| a.start.cmp(&b.start));
    // `cursor`: every key below it (from `want.start`) is covered; `None` once all are.
    let mut cursor = want.start.clone();
    for interval in held.iter() {
        if interval.is_empty() || interval.start > cursor {
            continue;
        }
        match &interval.end {
            None => return true,
            Some(end) if *end > cursor => cursor = end.clone(),
            Some(_) => {}
        }
        if want.end.as_ref().is_some_and(|want_end| cursor >= *want_end) {
            return true;
        }
    }
    false
}

/// The cluster's etcd auth setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthSettings {
    /// `None` until `auth enable` or `auth disable` is first called: the nodes' default then.
    pub enabled: Option<bool>,
    /// Grows by one at every change made through the etcd Auth API (etcd's auth revision,
    /// which starts at 1; 0 here until the first change).
    pub revision: u64,
}

fn settings_key() -> Vec<u8> {
    catalog::catalog_key(&[b"ea\0"])
}

async fn settings(txn: &mut Txn) -> Result<AuthSettings, SqlError> {
    match txn.get(&settings_key()).await? {
        Some(bytes) => catalog::decode(&bytes),
        None => Ok(AuthSettings::default()),
    }
}

/// What the etcd Auth API answers when a request cannot be done: etcd's errors, which the
/// server turns into etcd's gRPC statuses and messages.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthError {
    UserEmpty,
    UserAlreadyExist,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    RoleNotGranted,
    PermissionNotGranted,
    PermissionNotGiven,
    /// A change etcd refuses to make to `root` (deleting it, taking its root role).
    InvalidAuthMgmt,
    AuthFailed,
    AuthNotEnabled,
    PermissionDenied,
    /// A name or argument Atoll does not accept (InvalidArgument).
    Invalid(String),
    /// A role SQL objects still depend on (FailedPrecondition).
    InUse(String),
    /// The SQL transaction failed: unavailable, overloaded, or contended past the retries.
    Sql(SqlError),
}

impl From<SqlError> for AuthError {
    fn from(error: SqlError) -> Self {
        AuthError::Sql(error)
    }
}

impl From<atoll_kv::Error> for AuthError {
    fn from(error: atoll_kv::Error) -> Self {
        AuthError::Sql(error.into())
    }
}

/// A change to the auth state, made by [`change`].
#[derive(Debug, Clone)]
pub enum Change {
    Enable,
    Disable,
    /// `verifier`: the new user's SCRAM verifier text, `None` for a user without password.
    UserAdd {
        name: String,
        verifier: Option<String>,
    },
    UserDelete(String),
    UserChangePassword {
        name: String,
        verifier: String,
    },
    UserGrantRole {
        user: String,
        role: String,
    },
    UserRevokeRole {
        user: String,
        role: String,
    },
    RoleAdd(String),
    RoleDelete(String),
    RoleGrantPermission {
        role: String,
        permission: KvPermission,
    },
    RoleRevokePermission {
        role: String,
        key: Vec<u8>,
        range_end: Vec<u8>,
    },
}

/// The etcd view of the roles, read in one transaction: what every check of the etcd API
/// decides on (the server keeps one per node, see `atoll_server::etcd_auth`).
#[derive(Debug, Clone, Default)]
pub struct AuthState {
    pub enabled: bool,
    pub revision: u64,
    roles: HashMap<String, RoleDesc>,
}

/// An etcd role: a role that does not log in, or `root`.
fn is_etcd_role(role: &RoleDesc) -> bool {
    !role.login || role.name == ROOT_ROLE
}

impl AuthState {
    /// The etcd user `name`.
    pub fn user(&self, name: &str) -> Option<&RoleDesc> {
        self.roles.get(name).filter(|r| r.login)
    }

    /// The etcd role `name`.
    pub fn role(&self, name: &str) -> Option<&RoleDesc> {
        self.roles.get(name).filter(|r| is_etcd_role(r))
    }

    /// Every etcd user, by name.
    pub fn users(&self) -> Vec<String> {
        let mut names: Vec<String> = self.roles.values().filter(|r| r.login).map(|r| r.name.clone()).collect();
        names.sort();
        names
    }

    /// Every etcd role, by name.
    pub fn roles(&self) -> Vec<String> {
        let mut names: Vec<String> = self.roles.values().filter(|r| is_etcd_role(r)).map(|r| r.name.clone()).collect();
        names.sort();
        names
    }

    /// The roles etcd shows for `user`: those it was granted, and `root` for a superuser.
    pub fn user_roles(&self, user: &RoleDesc) -> Vec<String> {
        let mut roles: Vec<String> = user.member_of.clone();
        if user.superuser && !roles.iter().any(|r| r == ROOT_ROLE) {
            roles.push(ROOT_ROLE.into());
        }
        roles.sort();
        roles
    }

    /// Whether `user` may do everything, auth management included (etcd's root role).
    pub fn is_admin(&self, user: &str) -> bool {
        self.user(user).is_some_and(|u| u.superuser)
    }

    /// The password verifier of `user`, if it is a user with a password.
    pub fn verifier(&self, user: &str) -> Option<Verifier> {
        self.user(user)?.password.as_deref().and_then(Verifier::parse)
    }

    /// Whether `user` may access the keys `key`..`range_end` (etcd's reading) for `need`.
    pub fn permitted(&self, user: &str, key: &[u8], range_end: &[u8], need: KvAccess) -> bool {
        let Some(desc) = self.user(user) else { return false };
        if desc.superuser {
            return true;
        }
        let mut held: Vec<Interval> =
            privileges::closure_with(user, |name| self.roles.get(name).map(|r| r.member_of.as_slice()))
                .iter()
                .filter_map(|name| self.roles.get(name))
                .flat_map(|role| role.kv_permissions.iter())
                .filter(|p| p.access.allows(need))
                .map(|p| Interval::of(&p.key, &p.range_end))
                .collect();
        covered(&Interval::of(key, range_end), &mut held)
    }
}

/// Reads the auth state; `default_enabled` is the nodes' default for a cluster that never set
/// it (see the module comment).
pub async fn load(kv: &NodeKv, default_enabled: bool) -> Result<AuthState, AuthError> {
    let mut txn = kv.begin().await?;
    let settings = settings(&mut txn).await?;
    let roles = catalog::list_roles(&mut txn).await?;
    txn.rollback();
    Ok(AuthState {
        enabled: settings.enabled.unwrap_or(default_enabled),
        revision: settings.revision.max(1),
        roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect(),
    })
}

/// Makes `change` in one transaction, retried while it conflicts with others; returns the new
/// auth revision.
pub async fn change(kv: &NodeKv, change: &Change) -> Result<u64, AuthError> {
    const ATTEMPTS: u32 = 50;
    for attempt in 0..ATTEMPTS {
        let mut txn = kv.begin().await?;
        let revision = apply(&mut txn, change).await?;
        match txn.commit().await {
            Ok(_) => return Ok(revision),
            Err(atoll_kv::Error::Conflict) if attempt + 1 < ATTEMPTS => {
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(attempt.min(20)))).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(AuthError::Sql(atoll_kv::Error::Conflict.into()))
}

async fn require_user(txn: &mut Txn, name: &str) -> Result<RoleDesc, AuthError> {
    if name.is_empty() {
        return Err(AuthError::UserEmpty);
    }
    catalog::role(txn, name).await?.filter(|r| r.login).ok_or(AuthError::UserNotFound)
}

async fn require_role(txn: &mut Txn, name: &str) -> Result<RoleDesc, AuthError> {
    if name.is_empty() {
        return Err(AuthError::RoleEmpty);
    }
    catalog::role(txn, name).await?.filter(is_etcd_role).ok_or(AuthError::RoleNotFound)
}

fn check_new_name(name: &str) -> Result<(), AuthError> {
    crate::roles::check_name(name).map_err(|e| AuthError::Invalid(format!("etcdserver: {}", e.message)))
}

/// Deletes role `name` as `DROP ROLE` does: refused while SQL objects depend on it; the
/// memberships in it go with it.
async fn delete_role(txn: &mut Txn, name: &str) -> Result<(), AuthError> {
    let dependents = privileges::role_dependents(txn, name).await?;
    if !dependents.is_empty() {
        return Err(AuthError::InUse(format!(
            "etcdserver: role \"{name}\" cannot be deleted because SQL objects depend on it: {}",
            dependents.join(", ")
        )));
    }
    for mut member in catalog::list_roles(txn).await? {
        if member.member_of.iter().any(|r| r == name) {
            member.member_of.retain(|r| r != name);
            catalog::put_role(txn, &member)?;
        }
    }
    catalog::delete_role(txn, name)?;
    Ok(())
}

/// Makes `change` in `txn`; returns the auth revision after it. As etcd, enabling auth and a
/// grant of a role the user has already leave the revision as it is.
async fn apply(txn: &mut Txn, change: &Change) -> Result<u64, AuthError> {
    let mut settings = settings(txn).await?;
    let mut bump = true;
    match change {
        Change::Enable => {
            settings.enabled = Some(true);
            bump = false;
        }
        Change::Disable => settings.enabled = Some(false),
        Change::UserAdd { name, verifier } => {
            if name.is_empty() {
                return Err(AuthError::UserEmpty);
            }
            check_new_name(name)?;
            if catalog::role(txn, name).await?.is_some() {
                // One namespace for users and roles: a role of that name is taken too.
                return Err(AuthError::UserAlreadyExist);
            }
            let user = RoleDesc { login: true, password: verifier.clone(), ..RoleDesc::new(name.clone()) };
            catalog::put_role(txn, &user)?;
        }
        Change::UserDelete(name) => {
            if name == ROOT_ROLE {
                return Err(AuthError::InvalidAuthMgmt);
            }
            require_user(txn, name).await?;
            delete_role(txn, name).await?;
        }
        Change::UserChangePassword { name, verifier } => {
            let mut user = require_user(txn, name).await?;
            user.password = Some(verifier.clone());
            catalog::put_role(txn, &user)?;
        }
        Change::UserGrantRole { user, role } => {
            let mut desc = require_user(txn, user).await?;
            require_role(txn, role).await?;
            if role == ROOT_ROLE {
                bump = !desc.superuser;
                desc.superuser = true;
            } else if desc.member_of.contains(role) {
                bump = false;
            } else {
                let roles = catalog::list_roles(txn).await?;
                if privileges::closure(&roles, role).contains(user) {
                    return Err(AuthError::Invalid(format!(
                        "etcdserver: role \"{role}\" is a member of user \"{user}\" already (membership loop)"
                    )));
                }
                desc.member_of.push(role.clone());
            }
            catalog::put_role(txn, &desc)?;
        }
        Change::UserRevokeRole { user, role } => {
            if user == ROOT_ROLE && role == ROOT_ROLE {
                return Err(AuthError::InvalidAuthMgmt);
            }
            let mut desc = require_user(txn, user).await?;
            if role == ROOT_ROLE {
                if !desc.superuser {
                    return Err(AuthError::RoleNotGranted);
                }
                desc.superuser = false;
            } else {
                if !desc.member_of.contains(role) {
                    return Err(AuthError::RoleNotGranted);
                }
                desc.member_of.retain(|r| r != role);
            }
            catalog::put_role(txn, &desc)?;
        }
        Change::RoleAdd(name) => {
            if name.is_empty() {
                return Err(AuthError::RoleEmpty);
            }
            check_new_name(name)?;
            if catalog::role(txn, name).await?.is_some() {
                return Err(AuthError::RoleAlreadyExist);
            }
            catalog::put_role(txn, &RoleDesc::new(name.clone()))?;
        }
        Change::RoleDelete(name) => {
            if name == ROOT_ROLE {
                return Err(AuthError::InvalidAuthMgmt);
            }
            require_role(txn, name).await?;
            delete_role(txn, name).await?;
        }
        Change::RoleGrantPermission { role, permission } => {
            // etcd's valid ranges: a key, and no end, an end after it, or "\0" (to the end).
            let (key, end) = (&permission.key, &permission.range_end);
            if key.is_empty() || !(end.is_empty() || end > key || end.as_slice() == [0]) {
                return Err(AuthError::InvalidAuthMgmt);
            }
            let mut desc = require_role(txn, role).await?;
            let same = |p: &KvPermission| p.key == permission.key && p.range_end == permission.range_end;
            let held = desc.kv_permissions.len();
            match desc.kv_permissions.iter_mut().find(|p| same(p)) {
                Some(same) => same.access = permission.access,
                None if held >= KV_PERMISSIONS_MAX => {
                    return Err(AuthError::Invalid(format!(
                        "etcdserver: role \"{role}\" has {KV_PERMISSIONS_MAX} permissions, the most a role may hold"
                    )));
                }
                None => desc.kv_permissions.push(permission.clone()),
            }
            desc.kv_permissions.sort_by(|a, b| (&a.key, &a.range_end).cmp(&(&b.key, &b.range_end)));
            catalog::put_role(txn, &desc)?;
        }
        Change::RoleRevokePermission { role, key, range_end } => {
            let mut desc = require_role(txn, role).await?;
            let before = desc.kv_permissions.len();
            desc.kv_permissions.retain(|p| !(p.key == *key && p.range_end == *range_end));
            if desc.kv_permissions.len() == before {
                return Err(AuthError::PermissionNotGranted);
            }
            catalog::put_role(txn, &desc)?;
        }
    }
    if bump {
        settings.revision = settings.revision.max(1) + 1;
    }
    txn.put(&settings_key(), &catalog::encode(&settings)?)?;
    Ok(settings.revision.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(roles: Vec<RoleDesc>) -> AuthState {
        AuthState { enabled: true, revision: 1, roles: roles.into_iter().map(|r| (r.name.clone(), r)).collect() }
    }

    fn permission(key: &str, range_end: &[u8], access: KvAccess) -> KvPermission {
        KvPermission { key: key.as_bytes().to_vec(), range_end: range_end.to_vec(), access }
    }

    #[test]
    fn a_span_is_permitted_only_when_the_roles_cover_all_of_it() {
        let mut readers = RoleDesc::new("readers".into());
        readers.kv_permissions = vec![
            permission("/a/", b"/a0", KvAccess::Read),
            permission("/b/", b"/b0", KvAccess::ReadWrite),
            permission("/c", b"", KvAccess::Write),
        ];
        let mut tail = RoleDesc::new("tail".into());
        tail.kv_permissions = vec![permission("/z", &[0], KvAccess::Read)];
        tail.member_of = vec!["readers".into()];
        let mut alice = RoleDesc { login: true, ..RoleDesc::new("alice".into()) };
        alice.member_of = vec!["tail".into()];
        let root = RoleDesc { login: true, superuser: true, ..RoleDesc::new(ROOT_ROLE.into()) };
        let bob = RoleDesc { login: true, ..RoleDesc::new("bob".into()) };
        let auth = state(vec![readers, tail, alice, root, bob]);
        let read = |key: &str, end: &[u8]| auth.permitted("alice", key.as_bytes(), end, KvAccess::Read);
        let write = |key: &str, end: &[u8]| auth.permitted("alice", key.as_bytes(), end, KvAccess::Write);
        // Through two levels of membership.
        assert!(read("/a/x", b""));
        assert!(read("/a/", b"/a0"));
        assert!(!read("/a/", b"/a1"), "past the end of the permission");
        assert!(!write("/a/x", b""), "read does not allow write");
        // Two adjacent permissions together cover a span neither covers alone.
        assert!(!read("/a/x", b"/b/y"), "the gap between /a0 and /b/ is not covered");
        assert!(read("/b/", b"/b0"));
        assert!(write("/b/q", b""));
        assert!(write("/c", b""));
        assert!(!write("/c/d", b""), "a one-key permission is that key only");
        assert!(read("/z", &[0]) && read("/zzz", b"/zzzz"));
        assert!(!read("/y", &[0]));
        // An empty span reads nothing.
        assert!(read("/q", b"/p"));
        assert!(auth.permitted("root", b"", &[0], KvAccess::Write), "root may do everything");
        assert!(!auth.permitted("bob", b"/a/x", b"", KvAccess::Read), "no roles, no keys");
        assert!(!auth.permitted("readers", b"/a/x", b"", KvAccess::Read), "a role that cannot log in is no user");
        assert!(!auth.permitted("nobody", b"/a/x", b"", KvAccess::Read));
    }

    #[test]
    fn adjacent_permissions_join() {
        let mut both = RoleDesc::new("both".into());
        both.kv_permissions =
            vec![permission("/k/b", b"/k/c", KvAccess::Read), permission("/k/a", b"/k/b", KvAccess::ReadWrite)];
        let mut carol = RoleDesc { login: true, ..RoleDesc::new("carol".into()) };
        carol.member_of = vec!["both".into()];
        let auth = state(vec![both, carol]);
        assert!(auth.permitted("carol", b"/k/a", b"/k/c", KvAccess::Read));
        assert!(!auth.permitted("carol", b"/k/a", b"/k/c", KvAccess::Write));
        assert!(auth.permitted("carol", b"/k/a", b"/k/b", KvAccess::Write));
    }

    #[test]
    fn root_shows_the_root_role_and_users_and_roles_are_told_apart() {
        let root = RoleDesc { login: true, superuser: true, ..RoleDesc::new(ROOT_ROLE.into()) };
        let alice = RoleDesc { login: true, member_of: vec!["r".into()], ..RoleDesc::new("alice".into()) };
        let auth = state(vec![root.clone(), alice.clone(), RoleDesc::new("r".into())]);
        assert_eq!(auth.users(), ["alice", "root"]);
        assert_eq!(auth.roles(), ["r", "root"]);
        assert_eq!(auth.user_roles(&root), ["root"]);
        assert_eq!(auth.user_roles(&alice), ["r"]);
        assert!(auth.is_admin("root") && !auth.is_admin("alice"));
        assert!(auth.role("alice").is_none() && auth.user("r").is_none());
    }
}
