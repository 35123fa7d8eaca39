//! The `portcullis` command line: the gateway (`serve`, `check-config`, `demo`) and the
//! administration commands that work on the configured store or through a gateway's admin API.
//!
//! Administration commands (`service-token`, `users`, `sessions`, `apps`, `policy`, `logs`, …)
//! open the store the configuration names and change it directly, so they work offline and
//! beside a running gateway, which notices the change within about a second. Given `--url` (and
//! an API token), they go through that gateway's admin API instead ([`remote`],
//! [`remote_commands`]), from any machine that can reach it. Each is a function that
//! returns the text to print, in the [`Output`] form asked for, so it can be tested without a
//! terminal; `main` only parses, runs and prints. The logic stays in the modules that own it
//! ([`crate::service_tokens`], [`crate::registry`], [`crate::tester`]); this module phrases it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use portcullis_core::Email;
use portcullis_jose::Algorithm;
use portcullis_store::{Store, StoreError};
use secrecy::SecretString;

use crate::config::{ApplicationConfig, Config, ConfigError};
use crate::keys::KeyError;
use crate::registry::RegistryError;
use crate::seal::SealError;
use crate::service_tokens::{Lifetime, ServiceTokenError};
use crate::tester::TesterError;

pub mod api_tokens;
pub mod apps;
mod format;
pub mod keys;
pub mod logs;
pub mod objects;
pub mod policy;
pub mod remote;
pub mod remote_commands;
pub mod scim;
pub mod tokens;
pub mod users;

use logs::{LogSource, LogsCommand};
use remote::RemoteError;

/// Why an administration command failed, phrased for the operator.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create data_dir {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    ServiceToken(#[from] ServiceTokenError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Tester(#[from] TesterError),
    #[error(
        "no service token with id, name or client id `{0}`; `portcullis service-token list` shows them"
    )]
    UnknownToken(String),
    #[error("no application named `{name}`; configured: {known}")]
    UnknownApp { name: String, known: String },
    #[error(
        "application `{0}` is configured but not yet in the database: start the gateway once so that it records it"
    )]
    AppNotRecorded(String),
    #[error("cannot write JSON: {0}")]
    Json(serde_json::Error),
    #[error("no login method named `{name}`; configured: {known}")]
    UnknownLoginMethod { name: String, known: String },
    #[error(
        "login method `{0}` is configured but not yet in the database: start the gateway once so that it records it"
    )]
    LoginMethodNotRecorded(String),
    #[error("SCIM: {0}")]
    Scim(String),
    #[error("{0}")]
    Api(String),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error("secret key: {0}")]
    SecretKey(#[from] SealError),
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(
        "`{0}` works through a gateway's admin API: give --url <team URL> and --token (or set PORTCULLIS_URL and PORTCULLIS_API_TOKEN)"
    )]
    RemoteOnly(String),
    #[error("no {noun} `{wanted}`; `portcullis {command} list` shows them")]
    UnknownObject {
        noun: &'static str,
        wanted: String,
        command: &'static str,
    },
    #[error("`{wanted}` names more than one {noun} ({ids}); give the id")]
    AmbiguousObject {
        noun: &'static str,
        wanted: String,
        ids: String,
    },
    #[error(transparent)]
    ObjectFile(#[from] objects::ObjectFileError),
    #[error(
        "deleting needs a confirmation and standard input is not a terminal: add --yes to delete without asking"
    )]
    NeedsYes,
    #[error("nothing deleted: the deletion was not confirmed")]
    NotConfirmed,
}

/// Who reads the answer: a person (aligned text) or a program (JSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Human,
    Json,
}

#[derive(Parser, Debug)]
#[command(name = "portcullis", version, about = "Identity-aware access gateway")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses a command line (`args` starts with the program's name) without exiting on an
    /// error, for callers that do not have clap's `Parser` trait at hand (tests).
    pub fn from_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Cli::try_parse_from(args)
    }
}

/// Where the configuration file is.
#[derive(Args, Debug, Clone)]
pub struct ConfigPath {
    /// Path of the TOML configuration.
    #[arg(
        long,
        short,
        env = "PORTCULLIS_CONFIG",
        default_value = "portcullis.toml",
        global = true
    )]
    pub config: PathBuf,
}

/// What every administration command takes: the configuration and the output form.
#[derive(Args, Debug, Clone)]
pub struct AdminOptions {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Work through the admin API of the gateway at this team URL (e.g.
    /// https://auth.example.com), or at its `server.admin_listen` address when it has one,
    /// instead of on the configured database.
    #[arg(long, env = "PORTCULLIS_URL", global = true, value_name = "TEAM_URL")]
    pub url: Option<String>,
    /// The admin API token for --url (never printed).
    #[arg(
        long,
        env = "PORTCULLIS_API_TOKEN",
        global = true,
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub token: Option<SecretString>,
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

impl AdminOptions {
    pub fn output(&self) -> Output {
        if self.json {
            Output::Json
        } else {
            Output::Human
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the gateway with a configuration file.
    Serve {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Check a configuration file and exit.
    CheckConfig {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Run the gateway with a built-in demo identity provider and origin (not for production).
    Demo {
        /// Gateway listener.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Where the demo keeps its SQLite database and secret key.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Algorithm the demo IdP signs ID tokens with.
        #[arg(long, default_value = "RS256")]
        idp_alg: Algorithm,
    },
    /// Print a shell completion script (e.g. `portcullis completions bash > /etc/bash_completion.d/portcullis`).
    Completions {
        /// The shell to complete for.
        shell: Shell,
    },
    #[command(flatten)]
    Admin(AdminGroup),
}

/// The administration commands as typed, each group with its options.
#[derive(Subcommand, Debug)]
pub enum AdminGroup {
    /// Manage service tokens (machine credentials for Service Auth policies).
    ServiceToken {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// List, inspect, revoke and remove users of the registry.
    Users {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: UserCommand,
    },
    /// End sessions.
    Sessions {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: SessionCommand,
    },
    /// Manage applications (list, show, add, edit, delete, revoke their tokens).
    Apps {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: AppCommand,
    },
    /// Manage login methods (identity providers) through the admin API.
    Idp {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: IdpCommand,
    },
    /// Manage reusable policies, and test what an application's policies decide.
    #[command(visible_alias = "policies")]
    Policy {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage rule groups (reusable sets of rules) through the admin API.
    Groups {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: GroupCommand,
    },
    /// Tokens for the admin API (`<team URL>/client/v4/…`).
    ApiToken {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: ApiTokenCommand,
    },
    /// SCIM provisioning of a login method.
    Scim {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: ScimCommand,
    },
    /// The signing keys of the tokens the gateway issues.
    Keys {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Read (or follow) the sign-in and SCIM provisioning logs.
    Logs {
        #[command(flatten)]
        options: AdminOptions,
        #[command(subcommand)]
        command: LogsCommand,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum ApiTokenCommand {
    /// Create a token and print its value (only this once).
    Create {
        /// A unique name, e.g. what will use the token.
        name: String,
        /// `read` (GET only) or `write`.
        #[arg(long, default_value = "read", value_parser = parse_scope)]
        scope: crate::admin_api::Scope,
    },
    /// List the tokens (names and scopes; never their values).
    List,
    /// Delete a token; it stops working at once.
    Delete {
        /// The token's id or name.
        token: String,
    },
}

fn parse_scope(text: &str) -> Result<crate::admin_api::Scope, String> {
    crate::admin_api::Scope::parse(text).ok_or_else(|| format!("`{text}` is not `read` or `write`"))
}

#[derive(Subcommand, Debug, Clone)]
pub enum ScimCommand {
    /// Generate a new SCIM secret for a login method and print it once (the old one stops
    /// working at once).
    RefreshSecret {
        /// The login method's name or id.
        login_method: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum KeysCommand {
    /// Make a new current signing key now (the current one stays accepted until the next
    /// rotation); running gateways pick it up within about a second.
    Rotate,
}

impl AdminGroup {
    /// The options and the command they apply to.
    pub fn split(self) -> (AdminOptions, AdminCommand) {
        match self {
            AdminGroup::ServiceToken { options, command } => {
                (options, AdminCommand::ServiceToken(command))
            }
            AdminGroup::Users { options, command } => (options, AdminCommand::Users(command)),
            AdminGroup::Sessions { options, command } => (options, AdminCommand::Sessions(command)),
            AdminGroup::Apps { options, command } => (options, AdminCommand::Apps(command)),
            AdminGroup::Idp { options, command } => (options, AdminCommand::Idp(command)),
            AdminGroup::Policy { options, command } => (options, AdminCommand::Policy(command)),
            AdminGroup::Groups { options, command } => (options, AdminCommand::Groups(command)),
            AdminGroup::Scim { options, command } => (options, AdminCommand::Scim(command)),
            AdminGroup::ApiToken { options, command } => (options, AdminCommand::ApiToken(command)),
            AdminGroup::Keys { options, command } => (options, AdminCommand::Keys(command)),
            AdminGroup::Logs { options, command } => (options, AdminCommand::Logs(command)),
        }
    }
}

impl Command {
    /// The administration command and its options, when this is one.
    pub fn admin(self) -> Option<(AdminOptions, AdminCommand)> {
        match self {
            Command::Admin(group) => Some(group.split()),
            _ => None,
        }
    }
}

/// A command that works on the store (or through the admin API).
#[derive(Debug, Clone)]
pub enum AdminCommand {
    ServiceToken(TokenCommand),
    Users(UserCommand),
    Sessions(SessionCommand),
    Apps(AppCommand),
    Idp(IdpCommand),
    Policy(PolicyCommand),
    Groups(GroupCommand),
    Scim(ScimCommand),
    ApiToken(ApiTokenCommand),
    Keys(KeysCommand),
    Logs(LogsCommand),
}

impl AdminCommand {
    /// The logs command to follow until interrupted, when this is one (it prints as it goes
    /// instead of returning one answer).
    pub fn follows(&self) -> Option<&LogsCommand> {
        match self {
            AdminCommand::Logs(logs) if logs.follows() => Some(logs),
            _ => None,
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum TokenCommand {
    /// Create a token and print its client id and secret (the secret only this once).
    Create {
        /// A unique name, e.g. the client that will use the token.
        name: String,
        /// How long the token is valid: a Go duration such as `8760h`, or `forever`.
        #[arg(long, default_value = "8760h", value_parser = Lifetime::parse)]
        duration: Lifetime,
    },
    /// List the tokens (never their secrets).
    List,
    /// Extend a token's life by its duration, from now.
    Refresh {
        /// The token's id, name or client id.
        token: String,
    },
    /// Give a token a new secret; the old one keeps working for an hour.
    Rotate {
        /// The token's id, name or client id.
        token: String,
    },
    /// Let a disabled token's secret be accepted again.
    Enable {
        /// The token's id, name or client id.
        token: String,
    },
    /// Refuse a token's secrets (current and previous) until it is enabled again.
    Disable {
        /// The token's id, name or client id.
        token: String,
    },
    /// Delete a token for good.
    Delete {
        /// The token's id, name or client id.
        token: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum UserCommand {
    /// List every user with their seat and last login.
    List,
    /// Show a user with their active sessions and recent failed logins.
    Show {
        /// The user's email or id.
        user: String,
    },
    /// End every session of a user and block logins for a minute; the seat is kept.
    Revoke {
        /// The user's email or id.
        user: String,
    },
    /// Free a user's seat and end their sessions; the record stays.
    Remove {
        /// The user's email or id.
        user: String,
    },
}

#[derive(Subcommand, Debug, Clone)]
pub enum SessionCommand {
    /// End one session and every token issued from it.
    Revoke {
        /// The session id (`portcullis users show` lists them).
        session: String,
    },
}

/// `--file`: where an object for `add` or `edit` is.
#[derive(Args, Debug, Clone)]
pub struct ObjectFile {
    /// The object in the admin API's shape (the fields of its entry in the configuration
    /// file): a `.json` or `.toml` file, or `-` for JSON on standard input.
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: PathBuf,
}

/// `--yes`: delete without asking.
#[derive(Args, Debug, Clone)]
pub struct Confirm {
    /// Delete without asking for confirmation (required when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// What `idp`, `apps`, `policies` and `groups` have in common: one of the admin API's object
/// operations on the object named (id or name).
#[derive(Debug, Clone, Copy)]
pub enum ObjectAction<'a> {
    List,
    Show(&'a str),
    Add(&'a ObjectFile),
    Edit(&'a str, &'a ObjectFile),
    Delete(&'a str, &'a Confirm),
}

impl ObjectAction<'_> {
    /// The subcommand's name, for messages.
    pub fn verb(&self) -> &'static str {
        match self {
            ObjectAction::List => "list",
            ObjectAction::Show(_) => "show",
            ObjectAction::Add(_) => "add",
            ObjectAction::Edit(..) => "edit",
            ObjectAction::Delete(..) => "delete",
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum AppCommand {
    /// List the applications with their domain, origin and audience tag.
    List,
    /// Show an application with its settings and policies.
    Show {
        /// The application's id, name or audience tag.
        app: String,
    },
    /// Add an application (`{name, domain, origin, policies, …}`) from a file.
    Add {
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Replace an application's settings with those in a file.
    Edit {
        /// The application's id, name or audience tag.
        app: String,
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Delete an application: its domain is no longer protected by the gateway.
    Delete {
        /// The application's id, name or audience tag.
        app: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Refuse every token of an application issued until now.
    RevokeTokens {
        /// The application's name (with --url also its id or audience tag).
        app: String,
    },
}

impl AppCommand {
    /// The object operation; `None` for `revoke-tokens`.
    pub fn object_action(&self) -> Option<ObjectAction<'_>> {
        match self {
            AppCommand::RevokeTokens { .. } => None,
            AppCommand::List => Some(ObjectAction::List),
            AppCommand::Show { app } => Some(ObjectAction::Show(app)),
            AppCommand::Add { file } => Some(ObjectAction::Add(file)),
            AppCommand::Edit { app, file } => Some(ObjectAction::Edit(app, file)),
            AppCommand::Delete { app, confirm } => Some(ObjectAction::Delete(app, confirm)),
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum IdpCommand {
    /// List the login methods with their type and whether SCIM provisioning is on.
    List,
    /// Show a login method (never its client secret).
    Show {
        /// The login method's id or name.
        idp: String,
    },
    /// Add a login method (`{name, type, config, scim_config}`) from a file; a generated SCIM
    /// secret is printed once.
    Add {
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Replace a login method's settings with those in a file.
    Edit {
        /// The login method's id or name.
        idp: String,
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Delete a login method: nobody can sign in with it any more.
    Delete {
        /// The login method's id or name.
        idp: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Print a URL that runs the login flow against a login method in a browser.
    Test {
        /// The login method's id or name.
        idp: String,
    },
}

impl IdpCommand {
    /// The object operation; `None` for `test`.
    pub fn object_action(&self) -> Option<ObjectAction<'_>> {
        match self {
            IdpCommand::List => Some(ObjectAction::List),
            IdpCommand::Show { idp } => Some(ObjectAction::Show(idp)),
            IdpCommand::Add { file } => Some(ObjectAction::Add(file)),
            IdpCommand::Edit { idp, file } => Some(ObjectAction::Edit(idp, file)),
            IdpCommand::Delete { idp, confirm } => Some(ObjectAction::Delete(idp, confirm)),
            IdpCommand::Test { .. } => None,
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum PolicyCommand {
    /// Evaluate an application's policies for one identity, or for every user who signed in.
    Test(PolicyTestArgs),
    /// List the reusable policies with their decision and how many applications use them.
    List,
    /// Show a reusable policy with its rules.
    Show {
        /// The policy's id or name.
        policy: String,
    },
    /// Add a reusable policy (`{name, decision, include, exclude, require}`) from a file.
    Add {
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Replace a reusable policy with the one in a file.
    Edit {
        /// The policy's id or name.
        policy: String,
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Delete a reusable policy.
    Delete {
        /// The policy's id or name.
        policy: String,
        #[command(flatten)]
        confirm: Confirm,
    },
}

impl PolicyCommand {
    /// The object operation; `None` for `test`.
    pub fn object_action(&self) -> Option<ObjectAction<'_>> {
        match self {
            PolicyCommand::Test(_) => None,
            PolicyCommand::List => Some(ObjectAction::List),
            PolicyCommand::Show { policy } => Some(ObjectAction::Show(policy)),
            PolicyCommand::Add { file } => Some(ObjectAction::Add(file)),
            PolicyCommand::Edit { policy, file } => Some(ObjectAction::Edit(policy, file)),
            PolicyCommand::Delete { policy, confirm } => {
                Some(ObjectAction::Delete(policy, confirm))
            }
        }
    }
}

#[derive(Subcommand, Debug, Clone)]
pub enum GroupCommand {
    /// List the rule groups.
    List,
    /// Show a rule group with its rules.
    Show {
        /// The group's id or name.
        group: String,
    },
    /// Add a rule group (`{name, include, exclude, require}`) from a file.
    Add {
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Replace a rule group with the one in a file.
    Edit {
        /// The group's id or name.
        group: String,
        #[command(flatten)]
        file: ObjectFile,
    },
    /// Delete a rule group.
    Delete {
        /// The group's id or name.
        group: String,
        #[command(flatten)]
        confirm: Confirm,
    },
}

impl GroupCommand {
    /// The object operation.
    pub fn object_action(&self) -> ObjectAction<'_> {
        match self {
            GroupCommand::List => ObjectAction::List,
            GroupCommand::Show { group } => ObjectAction::Show(group),
            GroupCommand::Add { file } => ObjectAction::Add(file),
            GroupCommand::Edit { group, file } => ObjectAction::Edit(group, file),
            GroupCommand::Delete { group, confirm } => ObjectAction::Delete(group, confirm),
        }
    }
}

impl AdminCommand {
    /// The name of this command (`idp add`, `policies show`, …) when only a gateway's admin API
    /// offers it, so that it needs --url; `None` for the commands that also work with --config
    /// (`apps list`, `apps revoke-tokens`, `policy test`, and every other group).
    pub fn api_only(&self) -> Option<String> {
        let (group, verb) = match self {
            AdminCommand::Apps(AppCommand::List) => return None,
            AdminCommand::Apps(c) => ("apps", c.object_action()?.verb()),
            AdminCommand::Idp(IdpCommand::Test { .. }) => ("idp", "test"),
            AdminCommand::Idp(c) => ("idp", c.object_action()?.verb()),
            AdminCommand::Policy(c) => ("policies", c.object_action()?.verb()),
            AdminCommand::Groups(c) => ("groups", c.object_action().verb()),
            _ => return None,
        };
        Some(format!("{group} {verb}"))
    }
}

/// `policy test`: with only an email, a known user is tested with their last sign-in; any
/// attribute flag describes a hypothetical identity instead.
#[derive(Args, Debug, Clone)]
pub struct PolicyTestArgs {
    /// The application's name.
    pub app: String,
    /// The email to test.
    #[arg(
        required_unless_present = "all_users",
        conflicts_with = "all_users",
        value_parser = parse_email
    )]
    pub email: Option<Email>,
    /// Test every user who has signed in at least once, each with their last sign-in.
    #[arg(long, conflicts_with_all = ["groups", "claims", "amr", "ip", "country"])]
    pub all_users: bool,
    /// An IdP group the identity belongs to (repeatable).
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// An OIDC claim of the identity (repeatable; a repeated name makes a list).
    #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
    pub claims: Vec<(String, String)>,
    /// An authentication method the identity used, e.g. `mfa` (repeatable).
    #[arg(long, value_name = "METHOD")]
    pub amr: Vec<String>,
    /// The client address.
    #[arg(long)]
    pub ip: Option<IpAddr>,
    /// The client's country (ISO 3166-1 alpha-2, e.g. `DE`).
    #[arg(long, value_name = "CC", value_parser = parse_country)]
    pub country: Option<String>,
}

impl PolicyTestArgs {
    /// Whether any attribute of a hypothetical identity was given.
    pub fn describes_identity(&self) -> bool {
        !self.groups.is_empty()
            || !self.claims.is_empty()
            || !self.amr.is_empty()
            || self.ip.is_some()
            || self.country.is_some()
    }
}

fn parse_email(text: &str) -> Result<Email, String> {
    Email::parse(text).map_err(|e| e.to_string())
}

fn parse_claim(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!("`{text}` is not NAME=VALUE, e.g. `roles=admin`")),
    }
}

fn parse_country(text: &str) -> Result<String, String> {
    let code = text.trim();
    if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(format!(
            "`{text}` is not a two-letter country code such as `US` or `DE`"
        ))
    }
}

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> String {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "portcullis", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

/// Opens the store the configuration names, creating the SQLite directory as `serve` does.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, CliError> {
    let server = &config.server;
    if server.database_url.starts_with("sqlite://") {
        std::fs::create_dir_all(&server.data_dir).map_err(|source| CliError::DataDir {
            path: server.data_dir.clone(),
            source,
        })?;
    }
    Ok(portcullis_store::open(&server.database_url).await?)
}

/// Runs an administration command at `now` (unix seconds) and returns what to print.
pub async fn execute(
    config: &Config,
    store: &dyn Store,
    command: &AdminCommand,
    output: Output,
    now: i64,
) -> Result<String, CliError> {
    match command {
        AdminCommand::ServiceToken(command) => match command {
            TokenCommand::Create { name, duration } => {
                tokens::create(store, name, *duration, now, output).await
            }
            TokenCommand::List => tokens::list(store, now, output).await,
            TokenCommand::Refresh { token } => tokens::refresh(store, token, now, output).await,
            TokenCommand::Rotate { token } => tokens::rotate(store, token, now, output).await,
            TokenCommand::Enable { token } => {
                tokens::set_enabled(store, token, true, now, output).await
            }
            TokenCommand::Disable { token } => {
                tokens::set_enabled(store, token, false, now, output).await
            }
            TokenCommand::Delete { token } => tokens::delete(store, token, output).await,
        },
        AdminCommand::Users(command) => match command {
            UserCommand::List => users::list(store, output).await,
            UserCommand::Show { user } => users::show(store, user, now, output).await,
            UserCommand::Revoke { user } => users::revoke(store, user, now, output).await,
            UserCommand::Remove { user } => users::remove(store, user, now, output).await,
        },
        AdminCommand::Sessions(SessionCommand::Revoke { session }) => {
            users::revoke_session(store, session, now, output).await
        }
        AdminCommand::Apps(AppCommand::List) => apps::list(config, store, output).await,
        AdminCommand::Apps(AppCommand::RevokeTokens { app }) => {
            users::revoke_app_tokens(config, store, app, now, output).await
        }
        AdminCommand::Policy(PolicyCommand::Test(args)) => {
            policy::test(config, store, args, output).await
        }
        // The rest of these are object commands: the gateway checks and applies each change
        // to its objects, so they ask it.
        AdminCommand::Apps(_)
        | AdminCommand::Idp(_)
        | AdminCommand::Policy(_)
        | AdminCommand::Groups(_) => {
            Err(CliError::RemoteOnly(command.api_only().unwrap_or_default()))
        }
        AdminCommand::Scim(ScimCommand::RefreshSecret { login_method }) => {
            scim::refresh_secret(config, store, login_method, output).await
        }
        AdminCommand::ApiToken(command) => match command {
            ApiTokenCommand::Create { name, scope } => {
                api_tokens::create(store, name, *scope, now, output).await
            }
            ApiTokenCommand::List => api_tokens::list(store, output).await,
            ApiTokenCommand::Delete { token } => api_tokens::delete(store, token, output).await,
        },
        AdminCommand::Keys(KeysCommand::Rotate) => keys::rotate(config, store, now, output).await,
        AdminCommand::Logs(command) => logs::show(LogSource::Store(store), command, output).await,
    }
}

/// The configured application called `name` (exactly, or else ignoring case).
pub fn find_app<'a>(config: &'a Config, name: &str) -> Result<&'a ApplicationConfig, CliError> {
    let apps = &config.applications;
    apps.iter()
        .find(|a| a.name == name)
        .or_else(|| apps.iter().find(|a| a.name.eq_ignore_ascii_case(name)))
        .ok_or_else(|| CliError::UnknownApp {
            name: name.to_owned(),
            known: if apps.is_empty() {
                "none".to_owned()
            } else {
                apps.iter()
                    .map(|a| format!("`{}`", a.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tester::tests::config;
    use std::path::Path;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("portcullis").chain(args.iter().copied()))
    }

    #[test]
    fn options_go_anywhere_after_the_group() {
        let cli = parse(&["service-token", "list", "--json", "-c", "x.toml"]).unwrap();
        let (options, command) = cli.command.admin().unwrap();
        assert_eq!(options.output(), Output::Json);
        assert_eq!(options.config.config, PathBuf::from("x.toml"));
        assert!(matches!(
            command,
            AdminCommand::ServiceToken(TokenCommand::List)
        ));
        let cli = parse(&["users", "--config", "y.toml", "show", "a@example.com"]).unwrap();
        let (options, _) = cli.command.admin().unwrap();
        assert_eq!(options.output(), Output::Human);
        assert_eq!(options.config.config, PathBuf::from("y.toml"));
        assert!(parse(&["serve"]).unwrap().command.admin().is_none());
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        use clap::error::ErrorKind;
        let usage = |args: &[&str]| parse(args).unwrap_err().kind();
        assert_eq!(
            usage(&["service-token", "create", "ci", "--duration", "a year"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            usage(&["policy", "test", "wiki"]),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            usage(&["policy", "test", "wiki", "a@example.com", "--all-users"]),
            ErrorKind::ArgumentConflict
        );
        assert_eq!(
            usage(&["policy", "test", "wiki", "--all-users", "--group", "x"]),
            ErrorKind::ArgumentConflict
        );
        for bad in [
            ["--claim", "novalue"],
            ["--country", "Germany"],
            ["--ip", "10.0.0.256"],
        ] {
            let args = ["policy", "test", "wiki", "a@example.com", bad[0], bad[1]];
            assert_eq!(usage(&args), ErrorKind::ValueValidation, "{bad:?}");
        }
        assert_eq!(
            usage(&["policy", "test", "wiki", "not an email"]),
            ErrorKind::ValueValidation
        );
        assert_eq!(parse(&["users", "lisst"]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn policy_test_flags_describe_an_identity() {
        let cli = parse(&[
            "policy",
            "test",
            "wiki",
            "Ann@Example.com",
            "--group",
            "eng",
            "--claim",
            "roles=admin",
            "--country",
            "de",
        ])
        .unwrap();
        let Some((_, AdminCommand::Policy(PolicyCommand::Test(args)))) = cli.command.admin() else {
            panic!("not a policy test");
        };
        assert_eq!(args.email.as_ref().unwrap().as_str(), "ann@example.com");
        assert_eq!(args.claims, [("roles".to_owned(), "admin".to_owned())]);
        assert_eq!(args.country.as_deref(), Some("DE"));
        assert!(args.describes_identity());
    }

    #[test]
    fn completions_cover_the_admin_commands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let script = completions(shell);
            for word in [
                "service-token",
                "revoke-tokens",
                "all-users",
                "idp",
                "policies",
                "groups",
                "delete",
                "file",
            ] {
                assert!(script.contains(word), "{shell}: no {word}");
            }
        }
    }

    #[test]
    fn object_commands_take_a_file_or_a_confirmation() {
        let cli = parse(&[
            "idp",
            "add",
            "--file",
            "okta.toml",
            "--url",
            "https://a.example",
        ])
        .unwrap();
        let (options, command) = cli.command.admin().unwrap();
        assert!(options.url.is_some());
        let AdminCommand::Idp(idp) = &command else {
            panic!("not idp: {command:?}");
        };
        assert!(
            matches!(idp.object_action(), Some(ObjectAction::Add(f)) if f.file == Path::new("okta.toml"))
        );
        // `policies` is `policy` under its plural name; `policy test` still works.
        let cli = parse(&["policies", "edit", "staff", "-f", "-"]).unwrap();
        let Some((_, AdminCommand::Policy(policy))) = cli.command.admin() else {
            panic!("not a policy command");
        };
        assert!(matches!(
            policy.object_action(),
            Some(ObjectAction::Edit("staff", f)) if f.file == Path::new("-")
        ));
        let cli = parse(&["groups", "delete", "eng", "--yes"]).unwrap();
        let Some((_, AdminCommand::Groups(group))) = cli.command.admin() else {
            panic!("not a group command");
        };
        assert!(matches!(group.object_action(), ObjectAction::Delete("eng", c) if c.yes));
        let cli = parse(&["apps", "delete", "wiki"]).unwrap();
        let Some((_, AdminCommand::Apps(app))) = cli.command.admin() else {
            panic!("not an app command");
        };
        assert!(matches!(app.object_action(), Some(ObjectAction::Delete("wiki", c)) if !c.yes));
        assert!(parse(&["policy", "test", "wiki", "--all-users"]).is_ok());
        use clap::error::ErrorKind;
        assert_eq!(
            parse(&["apps", "add"]).unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
        assert_eq!(
            parse(&["idp", "test"]).unwrap_err().kind(),
            ErrorKind::MissingRequiredArgument
        );
    }

    #[tokio::test]
    async fn object_commands_need_the_admin_api() {
        let config = config();
        let store = portcullis_store::open("sqlite::memory:").await.unwrap();
        for (args, name) in [
            (&["idp", "list"][..], "idp list"),
            (&["apps", "show", "wiki"][..], "apps show"),
            (&["policies", "add", "-f", "p.json"][..], "policies add"),
            (&["groups", "delete", "g", "--yes"][..], "groups delete"),
            (&["idp", "test", "okta"][..], "idp test"),
        ] {
            let (_, command) = parse(args).unwrap().command.admin().unwrap();
            let err = execute(&config, store.as_ref(), &command, Output::Human, 0)
                .await
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "`{name}` works through a gateway's admin API: give --url <team URL> and --token (or set PORTCULLIS_URL and PORTCULLIS_API_TOKEN)"
                )
            );
        }
        for local in [
            &["apps", "list"][..],
            &["apps", "revoke-tokens", "wiki"][..],
            &["policy", "test", "wiki", "--all-users"][..],
            &["users", "list"][..],
        ] {
            let (_, command) = parse(local).unwrap().command.admin().unwrap();
            assert_eq!(command.api_only(), None, "{local:?}");
        }
        // `apps list` still reads the configuration.
        let (_, command) = parse(&["apps", "list"]).unwrap().command.admin().unwrap();
        let text = execute(&config, store.as_ref(), &command, Output::Human, 0)
            .await
            .unwrap();
        assert!(text.starts_with("NAME"), "{text}");
    }

    #[test]
    fn unknown_apps_are_named_with_the_configured_ones() {
        let config = config();
        assert_eq!(find_app(&config, "WIKI").unwrap().name, "wiki");
        let err = find_app(&config, "wikki").unwrap_err().to_string();
        assert_eq!(
            err,
            "no application named `wikki`; configured: `wiki`, `status`"
        );
    }
}
