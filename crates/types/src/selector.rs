//! Guest selectors for `-l`: tag expressions with AND / OR / NOT, parentheses and `*` wildcards,
//! plus `id:`, `name:`, `node:`, `pool:` terms and `all`. Pure: parse once, match many.
//!
//! ```text
//! env-prod,web            both tags (a comma is AND, as in kubectl)
//! env-prod | env-staging  either tag (also OR)
//! !maint-ok               not tagged maint-ok (also NOT)
//! (web | db) & !env-dev   grouping; & is AND too
//! name:web-* node:pve1    name glob and node (a space is AND)
//! id:100-199 pool:prod    VMID range and pool
//! all                     every guest
//! ```

use std::fmt;

/// What a selector looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject<'a> {
    pub vmid: u32,
    pub name: &'a str,
    pub node: &'a str,
    pub pool: Option<&'a str>,
    pub tags: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    All,
    Tag(String),
    Name(String),
    Node(String),
    Pool(String),
    Ids(u32, u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Term(Term),
    Not(Box<Selector>),
    And(Box<Selector>, Box<Selector>),
    Or(Box<Selector>, Box<Selector>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector at character {pos}: {msg}")]
pub struct SelectorError {
    pub pos: usize,
    pub msg: String,
}

/// `*` matches any run of characters; matching is case-insensitive, as PVE tags are.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Selector {
    pub fn matches(&self, s: &Subject<'_>) -> bool {
        match self {
            Selector::Term(t) => match t {
                Term::All => true,
                Term::Tag(p) => s.tags.iter().any(|tag| glob_match(p, tag)),
                Term::Name(p) => glob_match(p, s.name),
                Term::Node(p) => glob_match(p, s.node),
                Term::Pool(p) => s.pool.is_some_and(|pool| glob_match(p, pool)),
                Term::Ids(lo, hi) => (*lo..=*hi).contains(&s.vmid),
            },
            Selector::Not(a) => !a.matches(s),
            Selector::And(a, b) => a.matches(s) && b.matches(s),
            Selector::Or(a, b) => a.matches(s) || b.matches(s),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '*' | ':')
}

fn lex(input: &str) -> Result<Vec<(usize, Tok)>, SelectorError> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = input.char_indices().collect();
    let mut i = 0;
    let mut prev_space = false;
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            ' ' | '\t' => {
                prev_space = true;
                i += 1;
                continue;
            }
            ',' | '&' => out.push((pos, Tok::And)),
            '|' => out.push((pos, Tok::Or)),
            '!' => out.push((pos, Tok::Not)),
            '(' => out.push((pos, Tok::Open)),
            ')' => out.push((pos, Tok::Close)),
            c if is_word_char(c) => {
                let start = i;
                while i < chars.len() && is_word_char(chars[i].1) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().map(|(_, c)| c).collect();
                let tok = match word.as_str() {
                    "AND" => Tok::And,
                    "OR" => Tok::Or,
                    "NOT" => Tok::Not,
                    _ => Tok::Word(word),
                };
                // A space between two operands is an implicit AND.
                if prev_space
                    && matches!(out.last(), Some((_, Tok::Word(_) | Tok::Close)))
                    && starts_operand(&tok)
                {
                    out.push((pos, Tok::And));
                }
                out.push((pos, tok));
                prev_space = false;
                continue;
            }
            other => return Err(SelectorError { pos, msg: format!("unexpected '{other}'") }),
        }
        if prev_space && matches!(out.len(), n if n >= 2) {
            let n = out.len();
            if matches!(out[n - 2].1, Tok::Word(_) | Tok::Close)
                && matches!(out[n - 1].1, Tok::Not | Tok::Open)
            {
                let last = out.pop();
                out.push((pos, Tok::And));
                if let Some(l) = last {
                    out.push(l);
                }
            }
        }
        prev_space = false;
        i += 1;
    }
    Ok(out)
}

fn starts_operand(t: &Tok) -> bool {
    matches!(t, Tok::Word(_) | Tok::Not | Tok::Open)
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    i: usize,
    end: usize,
}

impl Parser {
    fn pos(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |(p, _)| *p)
    }
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|(_, t)| t)
    }
    fn err(&self, msg: impl Into<String>) -> SelectorError {
        SelectorError { pos: self.pos(), msg: msg.into() }
    }
    fn or(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let mut left = self.and(depth)?;
        while self.peek() == Some(&Tok::Or) {
            self.i += 1;
            left = Selector::Or(Box::new(left), Box::new(self.and(depth)?));
        }
        Ok(left)
    }
    fn and(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        let mut left = self.unary(depth)?;
        while self.peek() == Some(&Tok::And) {
            self.i += 1;
            left = Selector::And(Box::new(left), Box::new(self.unary(depth)?));
        }
        Ok(left)
    }
    fn unary(&mut self, depth: usize) -> Result<Selector, SelectorError> {
        // Deeply nested input must fail cleanly, not overflow the stack.
        if depth > 64 {
            return Err(self.err("nested too deeply"));
        }
        match self.peek().cloned() {
            Some(Tok::Not) => {
                self.i += 1;
                Ok(Selector::Not(Box::new(self.unary(depth + 1)?)))
            }
            Some(Tok::Open) => {
                self.i += 1;
                let e = self.or(depth + 1)?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.err("missing ')'"));
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                let pos = self.pos();
                self.i += 1;
                term(&w).map(Selector::Term).map_err(|msg| SelectorError { pos, msg })
            }
            Some(_) => Err(self.err("expected a tag, a key:value term, 'all', '!' or '('")),
            None => Err(self.err("the selector ends too early")),
        }
    }
}

fn term(w: &str) -> Result<Term, String> {
    if w == "all" {
        return Ok(Term::All);
    }
    let Some((key, value)) = w.split_once(':') else { return Ok(Term::Tag(w.to_string())) };
    if value.is_empty() || value.contains(':') {
        return Err(format!("'{w}' needs a value after '{key}:'"));
    }
    match key {
        "tag" => Ok(Term::Tag(value.into())),
        "name" => Ok(Term::Name(value.into())),
        "node" => Ok(Term::Node(value.into())),
        "pool" => Ok(Term::Pool(value.into())),
        "id" => {
            let (lo, hi) = value.split_once('-').unwrap_or((value, value));
            let parse = |s: &str| {
                s.parse::<u32>()
                    .map_err(|_| format!("'{value}' is not a VMID or range like 100-199"))
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(format!("range {lo}-{hi} is empty"));
            }
            Ok(Term::Ids(lo, hi))
        }
        other => Err(format!("unknown key '{other}:' (use tag:, name:, node:, pool: or id:)")),
    }
}

impl std::str::FromStr for Selector {
    type Err = SelectorError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let toks = lex(s)?;
        let mut p = Parser { toks, i: 0, end: s.len() };
        let e = p.or(0)?;
        if p.i < p.toks.len() {
            return Err(p.err("unexpected text after the selector"));
        }
        Ok(e)
    }
}

impl Selector {
    /// Binding strength: OR 0, AND 1, NOT and terms 2.
    fn prec(&self) -> u8 {
        match self {
            Selector::Or(..) => 0,
            Selector::And(..) => 1,
            _ => 2,
        }
    }

    fn write_at(&self, f: &mut fmt::Formatter<'_>, min: u8) -> fmt::Result {
        if self.prec() < min {
            f.write_str("(")?;
            self.write_at(f, 0)?;
            return f.write_str(")");
        }
        match self {
            Selector::Term(t) => match t {
                Term::All => f.write_str("all"),
                Term::Tag(p) => write!(f, "tag:{p}"),
                Term::Name(p) => write!(f, "name:{p}"),
                Term::Node(p) => write!(f, "node:{p}"),
                Term::Pool(p) => write!(f, "pool:{p}"),
                Term::Ids(lo, hi) => write!(f, "id:{lo}-{hi}"),
            },
            Selector::Not(a) => {
                f.write_str("!")?;
                a.write_at(f, 2)
            }
            // Operators associate to the left, so a right operand of the same kind needs
            // parentheses to come back as the same tree.
            Selector::And(a, b) => {
                a.write_at(f, 1)?;
                f.write_str(" & ")?;
                b.write_at(f, 2)
            }
            Selector::Or(a, b) => {
                a.write_at(f, 0)?;
                f.write_str(" | ")?;
                b.write_at(f, 1)
            }
        }
    }
}

impl fmt::Display for Selector {
    /// With only the parentheses needed, so it parses back to the same tree.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_at(f, 0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn subject<'a>(tags: &'a [String], name: &'a str) -> Subject<'a> {
        Subject { vmid: 150, name, node: "pve1", pool: Some("prod"), tags }
    }

    fn sel(s: &str) -> Selector {
        s.parse().unwrap()
    }

    #[test]
    fn the_documented_forms_select_what_they_say() {
        let tags = vec!["env-prod".to_string(), "web".to_string()];
        let g = subject(&tags, "web-1");
        for yes in [
            "env-prod,web",
            "env-prod web",
            "env-prod | db",
            "!maint-ok",
            "(web | db) & !env-dev",
            "name:web-* node:pve1",
            "id:100-199 pool:prod",
            "all",
            "env-*",
            "ENV-PROD",
            "web AND NOT db",
            "tag:web OR tag:db",
        ] {
            assert!(sel(yes).matches(&g), "{yes}");
        }
        for no in [
            "env-prod,db",
            "!web",
            "name:db-*",
            "id:200-299",
            "pool:dev",
            "node:pve2",
            "(db | cache) & web",
        ] {
            assert!(!sel(no).matches(&g), "{no}");
        }
    }

    #[test]
    fn bad_selectors_say_where_and_why() {
        let e = "web &".parse::<Selector>().unwrap_err();
        assert_eq!(e.to_string(), "invalid selector at character 5: the selector ends too early");
        assert!("(web".parse::<Selector>().unwrap_err().msg.contains("missing ')'"));
        assert!("colour:red".parse::<Selector>().unwrap_err().msg.contains("unknown key"));
        assert!("id:300-200".parse::<Selector>().unwrap_err().msg.contains("empty"));
        assert!("web $".parse::<Selector>().is_err());
        assert!(
            "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((x"
                .parse::<Selector>()
                .is_err()
        );
    }

    #[test]
    fn printing_uses_only_the_parentheses_needed() {
        assert_eq!(sel("a & b & c | !d").to_string(), "tag:a & tag:b & tag:c | !tag:d");
        assert_eq!(sel("a & (b | c)").to_string(), "tag:a & (tag:b | tag:c)");
        assert_eq!(sel("!(a | b)").to_string(), "!(tag:a | tag:b)");
        assert_eq!(sel("a | (b | c)").to_string(), "tag:a | (tag:b | tag:c)");
        // The fuzzer's find: long chains and NOT runs must print within the nesting limit.
        let long = format!("{}a", "!".repeat(40));
        assert_eq!(sel(&long).to_string().parse::<Selector>().unwrap(), sel(&long));
    }

    #[test]
    fn globs_are_anchored_and_case_insensitive() {
        assert!(glob_match("web-*", "WEB-1"));
        assert!(glob_match("*-prod", "env-prod"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("web", "web-1"));
        assert!(!glob_match("*-prod", "env-production"));
    }

    fn leaf() -> impl Strategy<Value = Selector> {
        prop_oneof![
            Just(Selector::Term(Term::All)),
            "[a-z][a-z0-9*-]{0,6}".prop_map(|t| Selector::Term(Term::Tag(t))),
            "[a-z][a-z0-9*-]{0,6}".prop_map(|t| Selector::Term(Term::Name(t))),
            "[a-z][a-z0-9]{0,4}".prop_map(|t| Selector::Term(Term::Node(t))),
            (100u32..200, 0u32..100).prop_map(|(a, b)| Selector::Term(Term::Ids(a, a + b))),
        ]
    }

    fn tree() -> impl Strategy<Value = Selector> {
        leaf().prop_recursive(4, 24, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|a| Selector::Not(Box::new(a))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Selector::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Selector::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    proptest! {
        #[test]
        fn printing_and_parsing_round_trips(t in tree()) {
            prop_assert_eq!(t.to_string().parse::<Selector>().unwrap(), t);
        }

        #[test]
        fn not_not_and_de_morgan_hold(a in tree(), b in tree(), tags in prop::collection::vec("[a-z][a-z0-9-]{0,6}", 0..4), vmid in 100u32..300) {
            let g = Subject { vmid, name: "web-1", node: "pve", pool: None, tags: &tags };
            let not_not = Selector::Not(Box::new(Selector::Not(Box::new(a.clone()))));
            prop_assert_eq!(not_not.matches(&g), a.matches(&g));
            let lhs = Selector::Not(Box::new(Selector::And(Box::new(a.clone()), Box::new(b.clone()))));
            prop_assert_eq!(lhs.matches(&g), !a.matches(&g) || !b.matches(&g));
        }

        #[test]
        fn arbitrary_text_never_panics(s in "[a-z0-9 ,&|!():*-]{0,40}") {
            if let Ok(t) = s.parse::<Selector>() {
                prop_assert_eq!(t.to_string().parse::<Selector>().unwrap(), t);
            }
        }
    }
}
