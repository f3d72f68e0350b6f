//! `proxctl notify …`: where notifications go (targets) and which events go there (matchers).

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Targets: webhooks (signed), Slack/Mattermost, Discord, ntfy, Gotify, email (SMTP).
    Target {
        #[command(subcommand)]
        command: TargetCommand,
    },
    /// Matchers: which events (by kind, severity and guest selector) go to which targets.
    Matcher {
        #[command(subcommand)]
        command: MatcherCommand,
    },
    /// Notifications that could not be delivered after every retry, newest first.
    DeadLetters {
        #[arg(long, default_value_t = 20)]
        last: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// Add a target.
    Add {
        name: String,
        /// webhook, slack (also Mattermost), discord, ntfy, gotify or smtp.
        #[arg(long = "type")]
        kind: String,
        /// Where to send: the webhook URL, the ntfy topic URL, Gotify's `/message` URL, or
        /// for smtp `smtp://[user@]host[:port]` (STARTTLS, required), `smtps://...` (TLS
        /// from the start) or `smtp+plain://localhost` (a local relay, no TLS).
        #[arg(long, value_name = "URL")]
        endpoint: String,
        /// Where its secret is: env:VAR or file:PATH (mode 0600). The webhook's signing key
        /// (X-Proxctl-Signature), Gotify's app token, ntfy's access token, or the SMTP
        /// password.
        #[arg(long, value_name = "env:VAR|file:PATH")]
        secret_from: Option<String>,
        /// smtp: a recipient (repeat for several).
        #[arg(long, value_name = "ADDRESS")]
        mail_to: Vec<String>,
        /// smtp: the sender (default proxctl@<host>).
        #[arg(long, value_name = "ADDRESS")]
        mail_from: Option<String>,
        /// smtp: a PEM file of a private CA the mail server's certificate chains to
        /// (verification is never turned off).
        #[arg(long, value_name = "PEM")]
        mail_ca_file: Option<String>,
    },
    List,
    /// Send a test event to the target now, and say how it went.
    Test {
        name: String,
    },
    /// Delete a target (asks first).
    Delete {
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MatcherCommand {
    /// Route events to targets.
    Add {
        name: String,
        /// A target to send to (repeat for several).
        #[arg(long = "target", required = true)]
        targets: Vec<String>,
        /// Event kinds, or prefixes of them: job-failed, job-partial, job-succeeded, job-
        /// (repeat; default: every kind).
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// The least severity: info, warning or error.
        #[arg(long, default_value = "warning")]
        severity: String,
        /// Only events about guests this selector picks (the `-l` language, e.g.
        /// `env-prod` or `node:pve1`); events about no guest then do not match.
        #[arg(long, value_name = "SELECTOR")]
        selector: Option<String>,
    },
    List,
    /// Delete a matcher (asks first).
    Delete {
        name: String,
    },
}
