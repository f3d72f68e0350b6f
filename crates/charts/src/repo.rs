//! Chart repositories: a local directory of charts (directories or packages), or an HTTP
//! repository with an `index.yaml` naming each package's URL and SHA-256. Repositories are
//! kept in `chart-repos.yaml` in proxctl's config directory; `chart repo update` caches each
//! HTTP index beside it, and a package is used only if its bytes have the digest the index names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ChartError;
use crate::chart::{Chart, check_name};
use crate::package;

/// One chart version in an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub version: semver::Version,
    #[serde(default)]
    pub description: String,
    /// Where the package is: absolute, or relative to the index.
    pub urls: Vec<String>,
    /// SHA-256 of the package, hex.
    pub digest: String,
}

/// `index.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    #[serde(default = "v1", rename = "apiVersion")]
    pub api_version: String,
    #[serde(default)]
    pub entries: BTreeMap<String, Vec<IndexEntry>>,
}

fn v1() -> String {
    "v1".into()
}

impl Index {
    pub fn parse(text: &str) -> Result<Index, ChartError> {
        serde_yaml_ng::from_str(text).map_err(|e| ChartError::Invalid {
            place: crate::chart::yaml_place("index.yaml", &e),
            message: crate::chart::yaml_message(&e),
        })
    }

    /// The newest version of `name` (or exactly `version`).
    pub fn find(&self, name: &str, version: Option<&semver::Version>) -> Option<&IndexEntry> {
        let list = self.entries.get(name)?;
        match version {
            Some(v) => list.iter().find(|e| &e.version == v),
            None => list.iter().max_by(|a, b| a.version.cmp(&b.version)),
        }
    }

    /// An index of the packages in `dir` (what `chart package` wrote there), URLs relative.
    pub fn of_packages(dir: &Path) -> Result<Index, ChartError> {
        let io = |e: std::io::Error| ChartError::Io { path: dir.display().to_string(), source: e };
        let mut index = Index { api_version: v1(), entries: BTreeMap::new() };
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "tgz"))
            .collect();
        names.sort();
        for p in names {
            let bytes = std::fs::read(&p).map_err(io)?;
            let chart = Chart::from_package(&bytes)?;
            let file = p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            index.entries.entry(chart.meta.name.clone()).or_default().push(IndexEntry {
                version: chart.meta.version.clone(),
                description: chart.meta.description.clone(),
                urls: vec![file],
                digest: package::digest(&bytes),
            });
        }
        Ok(index)
    }
}

/// A configured repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repo {
    pub name: String,
    /// `https://…` / `http://…`, or a local directory.
    pub url: String,
}

impl Repo {
    pub fn is_http(&self) -> bool {
        self.url.starts_with("http://") || self.url.starts_with("https://")
    }
}

/// The repositories configured in a directory (proxctl's config dir).
#[derive(Debug, Clone)]
pub struct Repos {
    dir: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RepoFile {
    #[serde(default)]
    repositories: Vec<Repo>,
}

impl Repos {
    pub fn new(dir: impl Into<PathBuf>) -> Repos {
        Repos { dir: dir.into() }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("chart-repos.yaml")
    }

    fn index_file(&self, name: &str) -> PathBuf {
        self.dir.join("chart-cache").join(format!("{name}-index.yaml"))
    }

    pub fn list(&self) -> Result<Vec<Repo>, ChartError> {
        let path = self.file();
        match std::fs::read_to_string(&path) {
            Ok(t) => {
                let f: RepoFile = serde_yaml_ng::from_str(&t).map_err(|e| ChartError::Invalid {
                    place: crate::chart::yaml_place(&path.display().to_string(), &e),
                    message: crate::chart::yaml_message(&e),
                })?;
                Ok(f.repositories)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ChartError::Io { path: path.display().to_string(), source: e }),
        }
    }

    fn save(&self, repos: Vec<Repo>) -> Result<(), ChartError> {
        let path = self.file();
        let io = |e: std::io::Error| ChartError::Io { path: path.display().to_string(), source: e };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let text = serde_yaml_ng::to_string(&RepoFile { repositories: repos }).map_err(|e| {
            ChartError::Invalid { place: "chart-repos.yaml".into(), message: e.to_string() }
        })?;
        let tmp = path.with_extension("yaml.tmp");
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// Add (or replace) a repository. A local directory must exist.
    pub fn add(&self, name: &str, url: &str) -> Result<Repo, ChartError> {
        check_name(name)
            .map_err(|message| ChartError::Invalid { place: "repository name".into(), message })?;
        let repo = Repo { name: name.to_string(), url: url.trim_end_matches('/').to_string() };
        if !repo.is_http() && !Path::new(&repo.url).is_dir() {
            return Err(ChartError::Invalid {
                place: url.to_string(),
                message: "not an http(s) URL or an existing directory".into(),
            });
        }
        let mut all = self.list()?;
        all.retain(|r| r.name != name);
        all.push(repo.clone());
        all.sort_by(|a, b| a.name.cmp(&b.name));
        self.save(all)?;
        Ok(repo)
    }

    pub fn remove(&self, name: &str) -> Result<bool, ChartError> {
        let mut all = self.list()?;
        let before = all.len();
        all.retain(|r| r.name != name);
        let removed = all.len() != before;
        self.save(all)?;
        Ok(removed)
    }

    fn get(&self, name: &str) -> Result<Repo, ChartError> {
        self.list()?.into_iter().find(|r| r.name == name).ok_or_else(|| {
            ChartError::NotFound(format!(
                "no chart repository named {name}; add it with `proxctl chart repo add {name} URL`"
            ))
        })
    }

    /// Download every HTTP repository's index into the cache; returns (repo, charts) counts.
    pub async fn update(&self, http: &reqwest::Client) -> Result<Vec<(String, usize)>, ChartError> {
        let mut out = Vec::new();
        for r in self.list()? {
            let index = if r.is_http() {
                let url = format!("{}/index.yaml", r.url);
                let bytes = fetch(http, &url).await?;
                let text = String::from_utf8(bytes).map_err(|_| ChartError::Fetch {
                    url: url.clone(),
                    message: "index.yaml is not UTF-8".into(),
                })?;
                let index = Index::parse(&text)?;
                let path = self.index_file(&r.name);
                let io = |e: std::io::Error| ChartError::Io {
                    path: path.display().to_string(),
                    source: e,
                };
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(io)?;
                }
                std::fs::write(&path, text).map_err(io)?;
                index
            } else {
                local_index(Path::new(&r.url))?
            };
            out.push((r.name, index.entries.len()));
        }
        Ok(out)
    }

    /// The index of one repository (HTTP: as last updated).
    pub fn index(&self, repo: &Repo) -> Result<Index, ChartError> {
        if !repo.is_http() {
            return local_index(Path::new(&repo.url));
        }
        let path = self.index_file(&repo.name);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            ChartError::NotFound(format!(
                "repository {} has no index yet; run `proxctl chart repo update`",
                repo.name
            ))
        })?;
        Index::parse(&text)
    }

    /// Fetch `repo/name` (newest) or `repo/name@version`, checking the package's SHA-256.
    pub async fn fetch_chart(
        &self,
        http: &reqwest::Client,
        reference: &str,
    ) -> Result<Chart, ChartError> {
        let (repo_name, rest) = reference.split_once('/').ok_or_else(|| {
            ChartError::NotFound(format!("{reference}: expected REPO/NAME[@VERSION]"))
        })?;
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => (
                n,
                Some(semver::Version::parse(v).map_err(|e| ChartError::Invalid {
                    place: reference.to_string(),
                    message: format!("bad version: {e}"),
                })?),
            ),
            None => (rest, None),
        };
        let repo = self.get(repo_name)?;
        let index = self.index(&repo)?;
        let entry = index.find(name, version.as_ref()).ok_or_else(|| {
            ChartError::NotFound(format!("repository {repo_name} has no chart {rest}"))
        })?;
        let url = entry.urls.first().ok_or_else(|| ChartError::Invalid {
            place: format!("{repo_name} index: {name} {}", entry.version),
            message: "no URL".into(),
        })?;
        let bytes = if url.contains("://") {
            fetch(http, url).await?
        } else if repo.is_http() {
            fetch(http, &format!("{}/{url}", repo.url)).await?
        } else {
            let p = Path::new(&repo.url).join(url);
            std::fs::read(&p)
                .map_err(|e| ChartError::Io { path: p.display().to_string(), source: e })?
        };
        let got = package::digest(&bytes);
        if !got.eq_ignore_ascii_case(&entry.digest) {
            return Err(ChartError::Digest {
                what: format!("{repo_name}/{name} {}", entry.version),
                expected: entry.digest.clone(),
                got,
            });
        }
        Chart::from_package(&bytes)
    }
}

/// A local repository's index: its `index.yaml` if it has one, else one made from the chart
/// directories and packages it holds.
fn local_index(dir: &Path) -> Result<Index, ChartError> {
    if let Ok(text) = std::fs::read_to_string(dir.join("index.yaml")) {
        return Index::parse(&text);
    }
    Index::of_packages(dir)
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, ChartError> {
    let fail = |message: String| ChartError::Fetch { url: url.to_string(), message };
    let resp = http.get(url).send().await.map_err(|e| fail(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(fail(format!("HTTP {}", resp.status())));
    }
    if resp.content_length().is_some_and(|l| l > crate::chart::MAX_CHART_BYTES * 2) {
        return Err(fail("too large for a chart".into()));
    }
    let bytes = resp.bytes().await.map_err(|e| fail(e.to_string()))?;
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_is_found_unless_one_is_named() {
        let index = Index::parse(
            "apiVersion: v1\nentries:\n  web:\n    - {version: 1.2.0, urls: [a.tgz], digest: aa}\n    - {version: 1.10.0, urls: [b.tgz], digest: bb}\n",
        )
        .unwrap();
        assert_eq!(index.find("web", None).unwrap().digest, "bb");
        let v = semver::Version::parse("1.2.0").unwrap();
        assert_eq!(index.find("web", Some(&v)).unwrap().digest, "aa");
        assert!(index.find("db", None).is_none());
    }

    #[tokio::test]
    async fn a_package_whose_digest_differs_from_the_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let chart = crate::builtin::get("docker-host").unwrap();
        let bytes = package::package(&chart).unwrap();
        std::fs::write(dir.path().join(package::file_name(&chart)), &bytes).unwrap();
        let cfg = tempfile::tempdir().unwrap();
        let repos = Repos::new(cfg.path());
        repos.add("local", &dir.path().display().to_string()).unwrap();
        let http = proxctl_client::web::web_client(std::time::Duration::from_secs(5)).unwrap();
        let got = repos.fetch_chart(&http, "local/docker-host").await.unwrap();
        assert_eq!(got.meta, chart.meta);

        let mut index = Index::of_packages(dir.path()).unwrap();
        for e in index.entries.values_mut().flatten() {
            e.digest = "0".repeat(64);
        }
        std::fs::write(dir.path().join("index.yaml"), serde_yaml_ng::to_string(&index).unwrap())
            .unwrap();
        let e = repos.fetch_chart(&http, "local/docker-host").await.unwrap_err().to_string();
        assert!(e.contains("SHA-256"), "{e}");
    }
}
