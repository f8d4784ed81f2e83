//! `ipfs-s3 account …`: manages the accounts of a running gateway through its admin API
//! ([`crate::admin::accounts`]), with the internal token of the configuration (never an
//! argument). The secret key of a new account, or of a rotated one, is printed once.

use anyhow::Context;
use clap::{Args, Subcommand};
use ipfs_s3_common::account::{Permissions, Role};

use crate::admin::accounts::{ACCOUNTS_PATH, AccountChange, AccountView, NewAccount};
use crate::admin_client::AdminClient;
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account with fresh credentials (printed once).
    Add(AddArgs),
    /// List every account (secrets are never listed).
    List,
    /// Show one account, by access key or name.
    Show { account: String },
    /// Give an account a new secret key (printed once); the old one stops working.
    RotateSecret { account: String },
    /// Refuse an account's requests (as an unknown key) until enabled again.
    Disable { account: String },
    /// Accept a disabled account's requests again.
    Enable { account: String },
    /// Change an account's role or IPFS permissions.
    Set(SetArgs),
    /// Delete an account. Its buckets and objects stay.
    Remove { account: String },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// A unique name (letters, digits and -_.@+=,).
    pub name: String,
    /// `admin` sees every bucket; `user` only its own and what is public.
    #[arg(long, default_value = "user", value_parser = parse_role)]
    pub role: Role,
    /// May not store content (AllowPin off).
    #[arg(long)]
    pub no_pin: bool,
    /// May not delete or overwrite objects (AllowUnpin off).
    #[arg(long)]
    pub no_unpin: bool,
    /// The highest replication factor it may ask for.
    #[arg(long)]
    pub max_replicas: Option<u32>,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Access key or name.
    pub account: String,
    #[arg(long, value_parser = parse_role)]
    pub role: Option<Role>,
    /// May store content: true or false.
    #[arg(long)]
    pub allow_pin: Option<bool>,
    /// May delete or overwrite objects: true or false.
    #[arg(long)]
    pub allow_unpin: Option<bool>,
    /// The highest replication factor it may ask for (0: no limit of its own).
    #[arg(long)]
    pub max_replicas: Option<u32>,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("`{s}` is not a role (admin or user)"))
}

/// The accounts API of the running gateway.
struct Api(AdminClient);

impl Api {
    fn new(cfg: &Config) -> anyhow::Result<Self> {
        Ok(Self(AdminClient::new(cfg)))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
        self.0.call(method, &format!("{ACCOUNTS_PATH}{path}"), body).await
    }
}

fn id(account: &str) -> String {
    format!("/{}", percent_encoding::utf8_percent_encode(account, percent_encoding::NON_ALPHANUMERIC))
}

fn print_one(a: &AccountView) {
    println!("name:         {}", a.name);
    println!("access_key:   {}", a.access_key);
    if let Some(s) = &a.secret_key {
        println!("secret_key:   {s}");
    }
    println!("role:         {}", a.role.as_str());
    println!("enabled:      {}", a.enabled);
    println!("allow_pin:    {}", a.permissions.allow_pin);
    println!("allow_unpin:  {}", a.permissions.allow_unpin);
    println!("max_replicas: {}", a.permissions.max_replicas.map_or("gateway limit".into(), |m| m.to_string()));
    if a.configured {
        println!("(the configured credentials: changed in the configuration only)");
    }
}

fn view(v: serde_json::Value) -> anyhow::Result<AccountView> {
    serde_json::from_value(v).context("the admin API answered something else than an account")
}

async fn set_enabled(api: &Api, account: &str, enabled: bool) -> anyhow::Result<()> {
    let body = serde_json::to_value(AccountChange { enabled: Some(enabled), ..Default::default() })?;
    print_one(&view(api.call(reqwest::Method::PATCH, &id(account), Some(body)).await?)?);
    Ok(())
}

pub async fn run(cfg: &Config, cmd: AccountCommand) -> anyhow::Result<()> {
    let api = Api::new(cfg)?;
    use reqwest::Method;
    let change = |c: AccountChange| serde_json::to_value(c).unwrap_or_default();
    match cmd {
        AccountCommand::Add(a) => {
            let new = NewAccount {
                name: a.name,
                role: a.role,
                permissions: Permissions { allow_pin: !a.no_pin, allow_unpin: !a.no_unpin, max_replicas: a.max_replicas },
            };
            print_one(&view(api.call(Method::POST, "", Some(serde_json::to_value(new)?)).await?)?);
        }
        AccountCommand::List => {
            let all: Vec<AccountView> = serde_json::from_value(api.call(Method::GET, "", None).await?)?;
            println!("{:<24} {:<22} {:<6} {:<8} {:<5} {:<6} MAX_REPLICAS", "NAME", "ACCESS_KEY", "ROLE", "ENABLED", "PIN", "UNPIN");
            for a in all {
                println!(
                    "{:<24} {:<22} {:<6} {:<8} {:<5} {:<6} {}",
                    a.name,
                    a.access_key,
                    a.role.as_str(),
                    a.enabled,
                    a.permissions.allow_pin,
                    a.permissions.allow_unpin,
                    a.permissions.max_replicas.map_or("-".into(), |m| m.to_string())
                );
            }
        }
        AccountCommand::Show { account } => print_one(&view(api.call(Method::GET, &id(&account), None).await?)?),
        AccountCommand::RotateSecret { account } => {
            print_one(&view(api.call(Method::POST, &format!("{}/rotate-secret", id(&account)), None).await?)?)
        }
        AccountCommand::Disable { account } => set_enabled(&api, &account, false).await?,
        AccountCommand::Enable { account } => set_enabled(&api, &account, true).await?,
        AccountCommand::Set(s) => {
            let current = view(api.call(Method::GET, &id(&s.account), None).await?)?;
            let p = current.permissions;
            let permissions = Permissions {
                allow_pin: s.allow_pin.unwrap_or(p.allow_pin),
                allow_unpin: s.allow_unpin.unwrap_or(p.allow_unpin),
                max_replicas: match s.max_replicas {
                    Some(0) => None,
                    Some(m) => Some(m),
                    None => p.max_replicas,
                },
            };
            let body = change(AccountChange { role: s.role, permissions: Some(permissions), ..Default::default() });
            print_one(&view(api.call(Method::PATCH, &id(&s.account), Some(body)).await?)?)
        }
        AccountCommand::Remove { account } => {
            let gone = view(api.call(Method::DELETE, &id(&account), None).await?)?;
            println!("removed {} ({})", gone.name, gone.access_key);
        }
    }
    Ok(())
}
