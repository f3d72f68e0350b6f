//! Interactive wizards for `vm create` and `template build`, started on a terminal when their
//! main arguments are missing. A wizard only fills in the same arguments a script would pass:
//! it shows the equivalent command and manifest, asks for confirmation, remembers the choices
//! per profile, and hands the arguments to the ordinary non-interactive path.
//!
//! Questions are plain lines (a number or a name for menus), read from stdin and written to
//! stderr, so the wizard works over any terminal, and a test can answer it through a pty.

mod memory;
pub mod template;
pub mod vm;

use std::io::{BufRead, IsTerminal, Write};

use proxctl_client::Client;
use proxctl_ops::choices::{self, NodeChoice};

pub use memory::Memory;

/// Why a wizard stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum WizardError {
    #[error("the input ended before the wizard was done; nothing was changed")]
    Ended,
    #[error("no valid answer to '{question}' after {tries} tries; nothing was changed")]
    NoValidAnswer { question: String, tries: u32 },
    #[error("not confirmed; nothing was changed")]
    Declined,
    #[error("{0}")]
    Nothing(String),
    #[error("reading the answer")]
    Io(#[from] std::io::Error),
}

/// Where questions go and answers come from.
pub trait Ui {
    /// Show `prompt` and read one answer (without its newline); `None` at the end of input.
    fn ask(&mut self, prompt: &str) -> std::io::Result<Option<String>>;
    /// Show a line of text.
    fn say(&mut self, text: &str);
}

/// The terminal: prompts on stderr (stdout stays for results), answers from stdin.
#[derive(Debug, Default)]
pub struct Terminal;

impl Terminal {
    /// Whether a wizard can run: someone must be there to answer and to read the questions.
    pub fn available() -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }
}

impl Ui for Terminal {
    fn ask(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
    }

    fn say(&mut self, text: &str) {
        eprintln!("{text}");
    }
}

/// Tries before a question gives up (a script feeding wrong answers must not loop forever).
const TRIES: u32 = 5;

/// Ask until `check` accepts the answer; an empty answer takes `default` when there is one.
pub fn text<T>(
    ui: &mut dyn Ui,
    question: &str,
    default: Option<&str>,
    check: impl Fn(&str) -> Result<T, String>,
) -> Result<T, WizardError> {
    let prompt = match default {
        Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
        _ => format!("{question}: "),
    };
    for _ in 0..TRIES {
        let Some(answer) = ui.ask(&prompt)? else {
            return Err(WizardError::Ended);
        };
        let answer = answer.trim();
        let answer = if answer.is_empty() { default.unwrap_or("") } else { answer };
        match check(answer) {
            Ok(v) => return Ok(v),
            Err(why) => ui.say(&format!("  ! {why}")),
        }
    }
    Err(WizardError::NoValidAnswer { question: question.to_string(), tries: TRIES })
}

/// A menu: each item is (name, detail). The answer is its number or its name; returns the index.
pub fn pick(
    ui: &mut dyn Ui,
    question: &str,
    items: &[(String, String)],
    default: Option<usize>,
) -> Result<usize, WizardError> {
    let width = items.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    ui.say(&format!("{question}:"));
    for (i, (name, detail)) in items.iter().enumerate() {
        ui.say(format!("  {:>2}) {name:<width$}  {detail}", i + 1).trim_end());
    }
    let default = default.filter(|d| *d < items.len()).map(|d| (d + 1).to_string());
    text(ui, question, default.as_deref(), |a| {
        if let Ok(n) = a.parse::<usize>()
            && (1..=items.len()).contains(&n)
        {
            return Ok(n - 1);
        }
        items
            .iter()
            .position(|(name, _)| name == a)
            .ok_or_else(|| format!("answer with a number from 1 to {} or a name", items.len()))
    })
}

/// A yes/no question; an empty answer takes `default`.
pub fn yes(ui: &mut dyn Ui, question: &str, default: bool) -> Result<bool, WizardError> {
    let prompt = format!("{question} [{}]: ", if default { "Y/n" } else { "y/N" });
    for _ in 0..TRIES {
        let Some(answer) = ui.ask(&prompt)? else {
            return Err(WizardError::Ended);
        };
        match answer.trim().to_ascii_lowercase().as_str() {
            "" => return Ok(default),
            "y" | "yes" => return Ok(true),
            "n" | "no" => return Ok(false),
            _ => ui.say("  ! answer y or n"),
        }
    }
    Err(WizardError::NoValidAnswer { question: question.to_string(), tries: TRIES })
}

/// Shows the preview and asks the last question (`--yes` answers it).
pub fn confirm(
    ui: &mut dyn Ui,
    what: &str,
    command: &str,
    manifest: &str,
    assume_yes: bool,
) -> Result<(), WizardError> {
    ui.say("");
    ui.say("The same, without the wizard:");
    ui.say(&format!("  {command}"));
    ui.say("");
    ui.say("As a manifest (proxctl apply -f FILE):");
    for l in manifest.lines() {
        ui.say(&format!("  {l}"));
    }
    ui.say("");
    if assume_yes {
        ui.say(&format!("{what} yes (--yes)"));
        return Ok(());
    }
    if yes(ui, what, false)? { Ok(()) } else { Err(WizardError::Declined) }
}

/// The node menu: the one given on the command line (if online), the only one online, or a
/// pick among them with their CPUs and memory, `want` first.
pub fn pick_node(
    ui: &mut dyn Ui,
    nodes: &[NodeChoice],
    given: Option<&proxctl_types::NodeName>,
    want: Option<&str>,
) -> Result<NodeChoice, WizardError> {
    let mib = |b: u64| b / 1024 / 1024;
    if let Some(n) = given {
        return nodes.iter().find(|c| &c.node == n).cloned().ok_or_else(|| {
            WizardError::Nothing(format!("node {n} is not online; see `proxctl get nodes`"))
        });
    }
    match nodes {
        [] => Err(WizardError::Nothing("no node is online; see `proxctl get nodes`".into())),
        [only] => {
            ui.say(&format!("Node: {} (the only one online)", only.node));
            Ok(only.clone())
        }
        many => {
            let items: Vec<(String, String)> = many
                .iter()
                .map(|n| {
                    let room = format!(
                        "{} CPUs, {} MiB memory, {} MiB not given to running guests",
                        n.cpus,
                        mib(n.mem_total),
                        mib(n.mem_unpromised)
                    );
                    (n.node.to_string(), room)
                })
                .collect();
            let default = want.and_then(|w| items.iter().position(|(n, _)| n == w));
            Ok(many[pick(ui, "Node", &items, default.or(Some(0)))?].clone())
        }
    }
}

/// A menu of the node's storages holding `content`, with free space and content types.
pub async fn pick_storage(
    ui: &mut dyn Ui,
    client: &Client,
    node: &NodeChoice,
    content: &str,
    question: &str,
    want: Option<&str>,
) -> anyhow::Result<proxctl_types::StorageId> {
    let list = choices::storages(client, &node.node, content).await?;
    if list.is_empty() {
        return Err(WizardError::Nothing(format!(
            "no active storage on {} holds '{content}' content; add it with `pvesm set STORAGE --content ...,{content}`",
            node.node
        ))
        .into());
    }
    let items: Vec<(String, String)> = list
        .iter()
        .map(|s| {
            (
                s.storage.to_string(),
                format!(
                    "{}, {} free of {}, content {}",
                    s.kind,
                    gib(s.avail),
                    gib(s.total),
                    s.content.join(",")
                ),
            )
        })
        .collect();
    let default = want.and_then(|w| items.iter().position(|(n, _)| n == w));
    let i = pick(ui, question, &items, default.or(Some(0)))?;
    Ok(list[i].storage.clone())
}

/// One shell word: quoted only when it needs to be.
pub fn shell_word(s: &str) -> String {
    let plain =
        !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%~".contains(c));
    if plain { s.to_string() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

/// Bytes as GiB with one decimal, for menus.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

#[cfg(test)]
pub mod scripted {
    //! A `Ui` that answers from a list and records the transcript, for tests.
    use super::Ui;

    #[derive(Debug, Default)]
    pub struct Scripted {
        pub answers: std::collections::VecDeque<String>,
        pub transcript: String,
    }

    impl Scripted {
        pub fn new(answers: &[&str]) -> Self {
            Self { answers: answers.iter().map(|a| (*a).to_string()).collect(), ..Self::default() }
        }
    }

    impl Ui for Scripted {
        fn ask(&mut self, prompt: &str) -> std::io::Result<Option<String>> {
            let a = self.answers.pop_front();
            self.transcript.push_str(&format!("{prompt}{}\n", a.as_deref().unwrap_or("<EOF>")));
            Ok(a)
        }
        fn say(&mut self, text: &str) {
            self.transcript.push_str(text);
            self.transcript.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::scripted::Scripted;
    use super::*;

    #[test]
    fn a_question_retries_bad_answers_takes_the_default_and_gives_up_in_the_end() {
        let mut ui = Scripted::new(&["x", "", "7"]);
        let n = text(&mut ui, "Cores", Some("2"), |a| a.parse::<u32>().map_err(|e| e.to_string()));
        assert_eq!(n.unwrap(), 2);
        assert!(ui.transcript.contains("  ! invalid digit"), "{}", ui.transcript);
        let mut ui = Scripted::new(&["a", "b", "c", "d", "e", "f"]);
        let r = text(&mut ui, "Cores", None, |a| a.parse::<u32>().map_err(|e| e.to_string()));
        assert!(matches!(r, Err(WizardError::NoValidAnswer { tries: 5, .. })));
        let mut ui = Scripted::new(&[]);
        assert!(matches!(text(&mut ui, "Q", None, |a| Ok(a.to_string())), Err(WizardError::Ended)));
    }

    #[test]
    fn a_menu_takes_a_number_or_a_name() {
        let items =
            vec![("vmbr0".to_string(), "VLAN-aware".to_string()), ("vmbr1".into(), "".into())];
        let mut ui = Scripted::new(&["3", "vmbr1"]);
        assert_eq!(pick(&mut ui, "Bridge", &items, Some(0)).unwrap(), 1);
        assert!(
            ui.transcript.contains("   1) vmbr0  VLAN-aware\n   2) vmbr1\n"),
            "{}",
            ui.transcript
        );
        assert!(ui.transcript.contains("Bridge [1]: 3\n  ! answer with a number from 1 to 2"));
        let mut ui = Scripted::new(&[""]);
        assert_eq!(pick(&mut ui, "Bridge", &items, Some(0)).unwrap(), 0);
    }

    #[test]
    fn yes_no_defaults_and_shell_words_quote_only_when_needed() {
        assert!(yes(&mut Scripted::new(&[""]), "Start", true).unwrap());
        assert!(!yes(&mut Scripted::new(&[""]), "Create", false).unwrap());
        assert!(yes(&mut Scripted::new(&["Y"]), "Create", false).unwrap());
        assert_eq!(shell_word("10.0.0.5/24"), "10.0.0.5/24");
        assert_eq!(shell_word("it's here"), r"'it'\''s here'");
    }
}
