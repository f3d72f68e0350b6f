//! The charts shipped inside the binary (`crates/charts/charts/`), each useful as is:
//! `k3s-cluster`, `docker-host`, `web-tier` and `postgres-replicated`.

use std::collections::BTreeMap;

use crate::chart::Chart;

macro_rules! chart {
    ($name:literal: $($file:literal),+ $(,)?) => {
        (
            $name,
            &[$(($file, include_str!(concat!("../charts/", $name, "/", $file)))),+] as &[(&str, &str)],
        )
    };
}

const CHARTS: &[(&str, &[(&str, &str)])] = &[
    chart!("docker-host": "Chart.yaml", "values.yaml", "values.schema.json", "NOTES.txt",
        "templates/vm.yaml", "userdata/docker.yaml"),
    chart!("k3s-cluster": "Chart.yaml", "values.yaml", "values.schema.json", "NOTES.txt",
        "templates/pool.yaml", "templates/nodes.yaml", "userdata/node.yaml"),
    chart!("postgres-replicated": "Chart.yaml", "values.yaml", "values.schema.json", "NOTES.txt",
        "templates/db.yaml", "userdata/postgres.yaml"),
    chart!("web-tier": "Chart.yaml", "values.yaml", "values.schema.json", "NOTES.txt",
        "templates/pool.yaml", "templates/web.yaml", "templates/lb.yaml"),
];

/// The names of the built-in charts.
pub fn names() -> impl Iterator<Item = &'static str> {
    CHARTS.iter().map(|(n, _)| *n)
}

/// A built-in chart by name.
pub fn get(name: &str) -> Option<Chart> {
    let (_, files) = CHARTS.iter().find(|(n, _)| *n == name)?;
    let files: BTreeMap<String, String> =
        files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    // The charts are ours and tested (`every_builtin_chart_loads`), so this never fails.
    Chart::from_files(files).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_chart_loads_and_its_defaults_pass_its_schema() {
        for name in names() {
            let c = get(name).unwrap_or_else(|| panic!("{name} does not load"));
            assert_eq!(c.meta.name, name);
            let values = c.values().unwrap();
            let schema = c.schema.as_ref().unwrap();
            crate::values::check(schema, &values, &c.values_text, &[]).unwrap();
        }
    }
}
