//! etcd's Auth API and its checks: who a request comes from, and whether it may do what it asks.
//!
//! Users, roles and key-range permissions are SQL roles (`atoll_sql::kv_auth`): `etcdctl user
//! add alice` and `CREATE USER alice` make the same user, `etcdctl role grant-permission` writes
//! into the role's descriptor, and etcd's `root` role is the superuser attribute.
//!
//! **Who.** As etcd decides: a request that carries a token (the `token` gRPC metadata, from
//! `Authenticate`) is its user's, an unknown or expired token is refused (Unauthenticated,
//! which makes etcd clients authenticate again); without a token, a secure node takes the user
//! from the client certificate's common name (`client.alice.crt`), and the nodes' own
//! certificate (`node`) acts as root. Tokens are etcd's *simple tokens*: random, held by the
//! node that issued them (another node does not know them, and a client authenticates there
//! again), valid for [`TOKEN_TTL`] after their last use, at most [`TOKENS_MAX`] per node.
//!
//! **What.** When auth is enabled (the default on secure clusters), a Range needs read
//! permission on its keys, a Put or DeleteRange write permission (and read, with `prev_kv`), a
//! Txn that for every compare and operation it holds; a user with the root role passes every
//! check; auth management (but a user's own `user get`, and `role get` of its roles) and Compact
//! need root, Status and MemberList any user (etcd 3.5.32's rules). The
//! spans checked are those left after the confinement to etcd's keyspace
//! (`crate::etcd_keyspace`), so `--from-key` reads need permission up to SQL's keys only.
//!
//! **When.** Each node keeps the auth state it read ([`AuthState`]) for at most
//! [`AUTH_STATE_TTL`], and reads it anew at once after a change it made itself: a permission
//! revoked or a user deleted through another node is refused here within that time (etcd,
//! which keeps the auth state in its one Raft log, refuses at once). A node that cannot read the
//! state anew (SQL's range unavailable to it) decides on the last one for up to
//! [`AUTH_STATE_STALE_MAX`], then refuses with the read's error.

use atoll_proto::etcdserverpb::{
    request_op, AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse, AuthRoleAddRequest,
    AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse, AuthRoleGetRequest, AuthRoleGetResponse,
    AuthRoleGrantPermissionRequest, AuthRoleGrantPermissionResponse, AuthRoleListRequest, AuthRoleListResponse,
    AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse, AuthStatusRequest, AuthStatusResponse,
    AuthUserAddRequest, AuthUserAddResponse, AuthUserChangePasswordRequest, AuthUserChangePasswordResponse,
    AuthUserDeleteRequest, AuthUserDeleteResponse, AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse, AuthUserListRequest, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse, Permission, RequestOp, TxnRequest,
};
use atoll_sql::audit::{AuditLog, Event};
use atoll_sql::kv_auth::{self, AuthError, AuthState, Change, KvAccess, KvPermission};
use atoll_sql::scram::Verifier;
use atoll_sql::NodeKv;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::{Request, Status};

/// How long a token stays valid after its last use (etcd's simple tokens: 5 minutes).
pub const TOKEN_TTL: Duration = Duration::from_secs(300);
/// Most tokens one node holds; past it the one closest to expiry is dropped.
pub const TOKENS_MAX: usize = 16_384;
/// How long a node decides on the auth state it read before reading it again.
pub const AUTH_STATE_TTL: Duration = Duration::from_secs(1);
/// How long a node goes on deciding on the state it read last while it cannot read it anew
/// (SQL's range unavailable here); past that, requests fail with the read's error.
pub const AUTH_STATE_STALE_MAX: Duration = Duration::from_secs(10);
/// The gRPC metadata key of the token, as etcd clients send it.
const TOKEN_METADATA: &str = "token";
/// The metadata key etcd's HTTP gateway sends it under, after `Bearer `.
const BEARER_METADATA: &str = "authorization";
/// Random characters of a token.
const TOKEN_CHARS: usize = 16;
/// The certificate common name of Atoll's nodes, which act as root.
const NODE_USER: &str = atoll_security::certs::NODE_COMMON_NAME;

/// etcd's status for an auth error.
pub fn status(error: AuthError) -> Status {
    use AuthError as E;
    match error {
        E::UserEmpty => Status::invalid_argument("etcdserver: user name is empty"),
        E::UserAlreadyExist => Status::failed_precondition("etcdserver: user name already exists"),
        E::UserNotFound => Status::failed_precondition("etcdserver: user name not found"),
        E::RoleAlreadyExist => Status::failed_precondition("etcdserver: role name already exists"),
        E::RoleNotFound => Status::failed_precondition("etcdserver: role name not found"),
        E::RoleEmpty => Status::invalid_argument("etcdserver: role name is empty"),
        E::RoleNotGranted => Status::failed_precondition("etcdserver: role is not granted to the user"),
        E::PermissionNotGranted => Status::failed_precondition("etcdserver: permission is not granted to the role"),
        E::PermissionNotGiven => Status::invalid_argument("etcdserver: permission not given"),
        E::InvalidAuthMgmt => Status::invalid_argument("etcdserver: invalid auth management"),
        E::AuthFailed => Status::invalid_argument("etcdserver: authentication failed, invalid user ID or password"),
        E::AuthNotEnabled => Status::failed_precondition("etcdserver: authentication is not enabled"),
        E::PermissionDenied => Status::permission_denied("etcdserver: permission denied"),
        E::Invalid(message) => Status::invalid_argument(message),
        E::InUse(message) => Status::failed_precondition(message),
        E::Sql(error) if error.is_retryable() => Status::aborted(error.message),
        E::Sql(error) => Status::unavailable(format!("etcdserver: auth state unavailable: {}", error.message)),
    }
}

fn invalid_token() -> Status {
    Status::unauthenticated("etcdserver: invalid auth token")
}

/// A token's user and when it expires.
struct Token {
    user: String,
    expires: Instant,
}

/// The node's auth state and tokens.
pub struct EtcdAuth {
    kv: NodeKv,
    /// Whether auth is enabled on a cluster that never set it: on secure nodes.
    default_enabled: bool,
    /// The state last read and when; taken by every request, held for a clone.
    state: Mutex<Option<(Instant, Arc<AuthState>)>>,
    /// Held while the state is read anew, so that one request reads it and the others wait.
    reload: tokio::sync::Mutex<()>,
    tokens: Mutex<HashMap<String, Token>>,
    /// Tokens issued since the node started (the number after a token's dot).
    tokens_issued: std::sync::atomic::AtomicU64,
    /// See [`EtcdAuth::new`].
    unsafe_skip_key_checks: bool,
    audit: Option<Arc<AuditLog>>,
}

/// What a request needs.
pub enum Need<'a> {
    /// Only that the caller is a user (when auth is enabled).
    User,
    /// The root role.
    Admin,
    /// Access to key spans (etcd's `key` and `range_end`).
    Keys(Vec<(&'a [u8], &'a [u8], KvAccess)>),
}

/// The spans a Txn's compares and operations touch, nested Txns included.
pub fn txn_spans(txn: &TxnRequest) -> Vec<(&[u8], &[u8], KvAccess)> {
    let mut spans = Vec::new();
    fn walk<'a>(txn: &'a TxnRequest, spans: &mut Vec<(&'a [u8], &'a [u8], KvAccess)>) {
        for compare in &txn.compare {
            spans.push((compare.key.as_slice(), compare.range_end.as_slice(), KvAccess::Read));
        }
        for op in txn.success.iter().chain(&txn.failure) {
            op_spans(op, spans);
        }
    }
    fn op_spans<'a>(op: &'a RequestOp, spans: &mut Vec<(&'a [u8], &'a [u8], KvAccess)>) {
        match &op.request {
            Some(request_op::Request::RequestRange(range)) => {
                spans.push((range.key.as_slice(), range.range_end.as_slice(), KvAccess::Read));
            }
            Some(request_op::Request::RequestPut(put)) => {
                spans.push((put.key.as_slice(), &[], KvAccess::Write));
                if put.prev_kv {
                    spans.push((put.key.as_slice(), &[], KvAccess::Read));
                }
            }
            Some(request_op::Request::RequestDeleteRange(delete)) => {
                spans.push((delete.key.as_slice(), delete.range_end.as_slice(), KvAccess::Write));
                if delete.prev_kv {
                    spans.push((delete.key.as_slice(), delete.range_end.as_slice(), KvAccess::Read));
                }
            }
            Some(request_op::Request::RequestTxn(txn)) => walk(txn, spans),
            None => {}
        }
    }
    walk(txn, &mut spans);
    spans
}

impl EtcdAuth {
    /// `unsafe_skip_key_checks`: BROKEN ON PURPOSE, for the tests that prove the checks are
    /// caught when missing: every user may read and write every key.
    pub fn new(
        kv: NodeKv,
        default_enabled: bool,
        audit: Option<Arc<AuditLog>>,
        unsafe_skip_key_checks: bool,
    ) -> EtcdAuth {
        EtcdAuth {
            kv,
            unsafe_skip_key_checks,
            default_enabled,
            state: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
            tokens: Mutex::new(HashMap::new()),
            tokens_issued: std::sync::atomic::AtomicU64::new(1),
            audit,
        }
    }

    /// The auth state, read anew when older than [`AUTH_STATE_TTL`].
    pub async fn state(&self) -> Result<Arc<AuthState>, Status> {
        if let Some(state) = self.fresh_state() {
            return Ok(state);
        }
        let _reloading = self.reload.lock().await;
        if let Some(state) = self.fresh_state() {
            return Ok(state);
        }
        let read_at = Instant::now();
        match kv_auth::load(&self.kv, self.default_enabled).await {
            Ok(state) => {
                let state = Arc::new(state);
                *self.state.lock().unwrap_or_else(|e| e.into_inner()) = Some((read_at, state.clone()));
                Ok(state)
            }
            Err(error) => {
                // A node that cannot read the catalog for a moment keeps deciding as it last
                // could, for a bounded time, rather than refusing every etcd request.
                let slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
                match slot.as_ref().filter(|(read_at, _)| read_at.elapsed() < AUTH_STATE_STALE_MAX) {
                    Some((_, state)) => Ok(state.clone()),
                    None => Err(status(error)),
                }
            }
        }
    }

    fn fresh_state(&self) -> Option<Arc<AuthState>> {
        let slot = self.state.lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().filter(|(read_at, _)| read_at.elapsed() < AUTH_STATE_TTL).map(|(_, state)| state.clone())
    }

    /// Forgets the state read, so that the next request reads it anew.
    async fn forget_state(&self) {
        // Taken so that a read that began before the change does not put its older state back.
        let _reloading = self.reload.lock().await;
        *self.state.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The user a request comes from, if it names one (see the module comment).
    pub fn caller<T>(&self, request: &Request<T>) -> Result<Option<String>, Status> {
        let metadata = request.metadata();
        let token = match metadata.get(TOKEN_METADATA) {
            Some(token) => Some(token.to_str().map_err(|_| invalid_token())?),
            None => match metadata.get(BEARER_METADATA) {
                Some(value) => Some(value.to_str().map_err(|_| invalid_token())?.trim_start_matches("Bearer ")),
                None => None,
            },
        };
        if let Some(token) = token {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            return match tokens.get_mut(token) {
                Some(entry) if entry.expires > now => {
                    entry.expires = now + TOKEN_TTL;
                    Ok(Some(entry.user.clone()))
                }
                Some(_) => {
                    tokens.remove(token);
                    Err(invalid_token())
                }
                None => Err(invalid_token()),
            };
        }
        let name = request
            .peer_certs()
            .and_then(|certs| certs.first().and_then(|cert| atoll_security::common_name(cert.as_ref())));
        Ok(name.map(|name| if name == NODE_USER { atoll_sql::catalog::ROOT_ROLE.to_string() } else { name }))
    }

    /// Refuses `request` unless its caller may do what `need` says. Returns the caller, if the
    /// request named one.
    pub async fn authorize<T>(&self, request: &Request<T>, need: Need<'_>) -> Result<Option<String>, Status> {
        let caller = self.caller(request);
        self.check(caller, need).await
    }

    /// Refuses a request of `caller` ([`Self::caller`]) unless it may do what `need` says.
    /// While auth is off, who the request says it is counts for nothing (an unknown token
    /// included), as in etcd.
    pub async fn check(
        &self,
        caller: Result<Option<String>, Status>,
        need: Need<'_>,
    ) -> Result<Option<String>, Status> {
        let state = self.state().await?;
        if !state.enabled {
            return Ok(caller.unwrap_or(None));
        }
        let Some(user) = caller? else { return Err(status(AuthError::UserEmpty)) };
        if state.user(&user).is_none() {
            // A certificate names no user (a token's user takes its tokens with it).
            let unknown =
                if matches!(need, Need::Admin) { AuthError::UserNotFound } else { AuthError::PermissionDenied };
            return Err(status(unknown));
        }
        let allowed = state.is_admin(&user)
            || match &need {
                Need::User => true,
                Need::Admin => false,
                Need::Keys(_) if self.unsafe_skip_key_checks => true,
                Need::Keys(spans) => spans.iter().all(|(key, end, access)| state.permitted(&user, key, end, *access)),
            };
        if !allowed {
            return Err(status(AuthError::PermissionDenied));
        }
        Ok(Some(user))
    }

    /// A new token for `user`: etcd's simple token form, random letters, a dot and a number.
    fn issue_token(&self, user: &str) -> String {
        use rand::Rng as _;
        let mut rng = rand::rng();
        let letters: String = (0..TOKEN_CHARS)
            .map(|_| {
                let i = rng.random_range(0..52u8);
                char::from(if i < 26 { b'a' + i } else { b'A' + i - 26 })
            })
            .collect();
        let token = format!("{letters}.{}", self.tokens_issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if tokens.len() >= TOKENS_MAX {
            tokens.retain(|_, t| t.expires > now);
        }
        if tokens.len() >= TOKENS_MAX {
            let oldest = tokens.iter().min_by_key(|(_, t)| t.expires).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                tokens.remove(&oldest);
            }
        }
        tokens.insert(token.clone(), Token { user: user.to_string(), expires: now + TOKEN_TTL });
        assert!(tokens.len() <= TOKENS_MAX, "token table over its bound");
        token
    }

    /// Drops every token of `user` (deleted, or its password changed).
    fn revoke_tokens(&self, user: &str) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, t| t.user != user);
    }

    fn record(&self, event: &str, user: &str, what: String, outcome: &Result<(), Status>) {
        let Some(audit) = &self.audit else { return };
        let code = outcome.as_ref().err().map(|s| format!("{:?}", s.code()));
        let mut entry = Event::new(event, user, "", None);
        entry.statement = Some(what);
        if let Err(error) = outcome {
            entry.ok = false;
            entry.error = Some(error.message().to_string());
        }
        entry.grpc_code = code.as_deref();
        audit.record(&entry);
    }

    /// Makes a change as `caller` (who passed the admin check), audited, and drops the cached
    /// state so that this node's next request sees it.
    async fn change(&self, caller: &str, what: String, change: Change) -> Result<u64, Status> {
        let outcome = kv_auth::change(&self.kv, &change).await.map_err(status);
        self.forget_state().await;
        self.record("role", caller, what, &outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        outcome
    }

    /// Checks a password on a blocking thread (PBKDF2 takes milliseconds).
    async fn password_matches(verifier: Verifier, password: String) -> bool {
        tokio::task::spawn_blocking(move || verifier.matches(&password)).await.unwrap_or(false)
    }
}

/// A verifier for a new password, computed on a blocking thread; `None` for no password.
async fn new_verifier(password: String) -> Result<Option<String>, Status> {
    if password.is_empty() {
        return Ok(None);
    }
    tokio::task::spawn_blocking(move || Verifier::new(&password).to_text())
        .await
        .map(Some)
        .map_err(|_| Status::internal("password hashing failed"))
}

fn caller_name(caller: &Option<String>) -> &str {
    caller.as_deref().unwrap_or("")
}

fn permission_of(permission: Permission) -> Result<KvPermission, Status> {
    let access = KvAccess::from_etcd_value(permission.perm_type)
        .ok_or_else(|| Status::invalid_argument("etcdserver: invalid permission type"))?;
    Ok(KvPermission { key: permission.key, range_end: permission.range_end, access })
}

fn shown(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Auth service's calls, answered by [`crate::etcd::EtcdApi`] with its response headers.
impl EtcdAuth {
    pub async fn auth_enable(&self, request: &Request<AuthEnableRequest>) -> Result<AuthEnableResponse, Status> {
        let caller = self.authorize(request, Need::Admin).await?;
        // On an insecure cluster root can only authenticate with a password: without one,
        // enabling auth would lock every etcd client out.
        if !self.default_enabled && self.state().await?.verifier(atoll_sql::catalog::ROOT_ROLE).is_none() {
            return Err(Status::failed_precondition(
                "etcdserver: root has no password, so nobody could authenticate once auth is enabled: set one first \
                 (etcdctl user passwd root, or ALTER ROLE root WITH PASSWORD in SQL)",
            ));
        }
        self.change(caller_name(&caller), "auth enable".into(), Change::Enable).await?;
        Ok(AuthEnableResponse { header: None })
    }

    pub async fn auth_disable(&self, request: &Request<AuthDisableRequest>) -> Result<AuthDisableResponse, Status> {
        let caller = self.authorize(request, Need::Admin).await?;
        self.change(caller_name(&caller), "auth disable".into(), Change::Disable).await?;
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(AuthDisableResponse { header: None })
    }

    pub async fn auth_status(&self, request: &Request<AuthStatusRequest>) -> Result<AuthStatusResponse, Status> {
        self.authorize(request, Need::Admin).await?;
        let state = self.state().await?;
        Ok(AuthStatusResponse { header: None, enabled: state.enabled, auth_revision: state.revision })
    }

    pub async fn authenticate(&self, request: Request<AuthenticateRequest>) -> Result<AuthenticateResponse, Status> {
        let AuthenticateRequest { name, password } = request.into_inner();
        let state = self.state().await?;
        let outcome = if !state.enabled {
            Err(status(AuthError::AuthNotEnabled))
        } else {
            // A user without password cannot authenticate with one (etcd: `--no-password`).
            let verifier = state.verifier(&name).unwrap_or_else(|| Verifier::mock(&name, b"etcd auth"));
            if Self::password_matches(verifier, password).await {
                Ok(())
            } else {
                Err(status(AuthError::AuthFailed))
            }
        };
        self.record("login", &name, "etcd Authenticate".into(), &outcome);
        outcome?;
        Ok(AuthenticateResponse { header: None, token: self.issue_token(&name) })
    }

    pub async fn user_add(&self, request: Request<AuthUserAddRequest>) -> Result<AuthUserAddResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let request = request.into_inner();
        if !request.hashed_password.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: Atoll keeps SCRAM-SHA-256 verifiers, not bcrypt hashes: give the password",
            ));
        }
        let no_password = request.options.is_some_and(|o| o.no_password);
        let verifier = if no_password { None } else { new_verifier(request.password).await? };
        if verifier.is_none() && !no_password {
            // etcd refuses an empty password unless the user is made without one.
            return Err(status(AuthError::Invalid("etcdserver: password is empty".into())));
        }
        let what = format!("etcd user add {}", request.name);
        self.change(caller_name(&caller), what, Change::UserAdd { name: request.name, verifier }).await?;
        Ok(AuthUserAddResponse { header: None })
    }

    pub async fn user_get(&self, request: Request<AuthUserGetRequest>) -> Result<AuthUserGetResponse, Status> {
        let caller = self.authorize(&request, Need::User).await?;
        let name = request.into_inner().name;
        let state = self.state().await?;
        // A user may read its own roles; others' are root's to read.
        if state.enabled && caller.as_deref() != Some(name.as_str()) && !state.is_admin(caller_name(&caller)) {
            return Err(status(AuthError::PermissionDenied));
        }
        let user = state.user(&name).ok_or_else(|| status(AuthError::UserNotFound))?;
        Ok(AuthUserGetResponse { header: None, roles: state.user_roles(user) })
    }

    pub async fn user_list(&self, request: Request<AuthUserListRequest>) -> Result<AuthUserListResponse, Status> {
        self.authorize(&request, Need::Admin).await?;
        Ok(AuthUserListResponse { header: None, users: self.state().await?.users() })
    }

    pub async fn user_delete(&self, request: Request<AuthUserDeleteRequest>) -> Result<AuthUserDeleteResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let name = request.into_inner().name;
        self.change(caller_name(&caller), format!("etcd user delete {name}"), Change::UserDelete(name.clone())).await?;
        self.revoke_tokens(&name);
        Ok(AuthUserDeleteResponse { header: None })
    }

    pub async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<AuthUserChangePasswordResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let request = request.into_inner();
        if !request.hashed_password.is_empty() {
            return Err(Status::invalid_argument(
                "etcdserver: Atoll keeps SCRAM-SHA-256 verifiers, not bcrypt hashes: give the password",
            ));
        }
        let verifier = new_verifier(request.password)
            .await?
            .ok_or_else(|| status(AuthError::Invalid("etcdserver: password is empty".into())))?;
        let what = format!("etcd user passwd {}", request.name);
        let change = Change::UserChangePassword { name: request.name.clone(), verifier };
        self.change(caller_name(&caller), what, change).await?;
        self.revoke_tokens(&request.name);
        Ok(AuthUserChangePasswordResponse { header: None })
    }

    pub async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<AuthUserGrantRoleResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let AuthUserGrantRoleRequest { user, role } = request.into_inner();
        let what = format!("etcd user grant-role {user} {role}");
        self.change(caller_name(&caller), what, Change::UserGrantRole { user, role }).await?;
        Ok(AuthUserGrantRoleResponse { header: None })
    }

    pub async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<AuthUserRevokeRoleResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let AuthUserRevokeRoleRequest { name, role } = request.into_inner();
        let what = format!("etcd user revoke-role {name} {role}");
        self.change(caller_name(&caller), what, Change::UserRevokeRole { user: name, role }).await?;
        Ok(AuthUserRevokeRoleResponse { header: None })
    }

    pub async fn role_add(&self, request: Request<AuthRoleAddRequest>) -> Result<AuthRoleAddResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let name = request.into_inner().name;
        self.change(caller_name(&caller), format!("etcd role add {name}"), Change::RoleAdd(name)).await?;
        Ok(AuthRoleAddResponse { header: None })
    }

    pub async fn role_get(&self, request: Request<AuthRoleGetRequest>) -> Result<AuthRoleGetResponse, Status> {
        let caller = self.authorize(&request, Need::User).await?;
        let name = request.into_inner().role;
        let state = self.state().await?;
        // A user may read the roles it has; others are root's to read.
        let has_role = caller.as_deref().and_then(|c| state.user(c)).is_some_and(|u| u.member_of.contains(&name));
        if state.enabled && !has_role && !state.is_admin(caller_name(&caller)) {
            return Err(status(AuthError::PermissionDenied));
        }
        let role = state.role(&name).ok_or_else(|| status(AuthError::RoleNotFound))?;
        let perm = role
            .kv_permissions
            .iter()
            .map(|p| Permission {
                perm_type: p.access.etcd_value(),
                key: p.key.clone(),
                range_end: p.range_end.clone(),
            })
            .collect();
        Ok(AuthRoleGetResponse { header: None, perm })
    }

    pub async fn role_list(&self, request: Request<AuthRoleListRequest>) -> Result<AuthRoleListResponse, Status> {
        self.authorize(&request, Need::Admin).await?;
        Ok(AuthRoleListResponse { header: None, roles: self.state().await?.roles() })
    }

    pub async fn role_delete(&self, request: Request<AuthRoleDeleteRequest>) -> Result<AuthRoleDeleteResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let name = request.into_inner().role;
        self.change(caller_name(&caller), format!("etcd role delete {name}"), Change::RoleDelete(name)).await?;
        Ok(AuthRoleDeleteResponse { header: None })
    }

    pub async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<AuthRoleGrantPermissionResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let AuthRoleGrantPermissionRequest { name, perm } = request.into_inner();
        let permission = permission_of(perm.ok_or_else(|| status(AuthError::PermissionNotGiven))?)?;
        let what = format!(
            "etcd role grant-permission {name} {:?} [{}, {})",
            permission.access,
            shown(&permission.key),
            shown(&permission.range_end)
        );
        self.change(caller_name(&caller), what, Change::RoleGrantPermission { role: name, permission }).await?;
        Ok(AuthRoleGrantPermissionResponse { header: None })
    }

    pub async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<AuthRoleRevokePermissionResponse, Status> {
        let caller = self.authorize(&request, Need::Admin).await?;
        let AuthRoleRevokePermissionRequest { role, key, range_end } = request.into_inner();
        let what = format!("etcd role revoke-permission {role} [{}, {})", shown(&key), shown(&range_end));
        self.change(caller_name(&caller), what, Change::RoleRevokePermission { role, key, range_end }).await?;
        Ok(AuthRoleRevokePermissionResponse { header: None })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_proto::etcdserverpb::{Compare, DeleteRangeRequest, PutRequest, RangeRequest};

    fn op(request: request_op::Request) -> RequestOp {
        RequestOp { request: Some(request) }
    }

    #[test]
    fn a_txn_needs_read_for_its_compares_and_each_op_what_it_does_in_both_branches() {
        let nested = TxnRequest {
            compare: vec![],
            success: vec![op(request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                key: b"/d".to_vec(),
                range_end: b"/e".to_vec(),
                prev_kv: true,
            }))],
            failure: vec![],
        };
        let txn = TxnRequest {
            compare: vec![Compare { key: b"/c".to_vec(), ..Default::default() }],
            success: vec![op(request_op::Request::RequestPut(PutRequest {
                key: b"/p".to_vec(),
                prev_kv: true,
                ..Default::default()
            }))],
            failure: vec![
                op(request_op::Request::RequestRange(RangeRequest {
                    key: b"/r".to_vec(),
                    range_end: vec![0],
                    ..Default::default()
                })),
                op(request_op::Request::RequestTxn(nested)),
            ],
        };
        let spans: Vec<(&[u8], &[u8], KvAccess)> = txn_spans(&txn);
        let expected: Vec<(&[u8], &[u8], KvAccess)> = vec![
            (b"/c", b"", KvAccess::Read),
            (b"/p", b"", KvAccess::Write),
            (b"/p", b"", KvAccess::Read),
            (b"/r", &[0], KvAccess::Read),
            (b"/d", b"/e", KvAccess::Write),
            (b"/d", b"/e", KvAccess::Read),
        ];
        assert_eq!(spans, expected);
    }
}
