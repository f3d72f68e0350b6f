//! `chart create NAME`: a skeleton chart that lints, renders and installs as it is, with a
//! comment in each file saying what goes there.

use std::path::Path;

use crate::ChartError;
use crate::chart::check_name;

const CHART: &str = "apiVersion: proxctl.io/v1
name: {name}
version: 0.1.0
description: What this chart installs, in one line.
# The proxctl versions it works with.
proxctl: \">=0.1\"
";

const VALUES: &str = "# Defaults; override with -f FILE or --set key=value.
replicas: 1
template: debian-12
cores: 2
memory: 2048
bridge: vmbr0
";

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["replicas", "template"],
  "properties": {
    "replicas": {"type": "integer", "minimum": 1},
    "template": {"type": ["string", "integer"]},
    "cores": {"type": "integer", "minimum": 1},
    "memory": {"type": "integer", "minimum": 16},
    "bridge": {"type": "string"}
  }
}
"#;

const TEMPLATE: &str =
    "# Manifests (docs/manifests.md), templated with Jinja2: values.*, release.name,
# release.revision, chart.name, chart.version, userdata(file), secret(name).
{%- for i in range(1, values.replicas + 1) %}
---
apiVersion: proxctl.io/v1
kind: VirtualMachine
metadata:
  name: {{ release.name }}-{{ i }}
spec:
  template: {{ values.template | tojson }}
  cores: {{ values.cores }}
  memory: {{ values.memory }}
  networks:
    net0: {bridge: {{ values.bridge }}}
  cloudInit:
    ip:
      net0: {address: dhcp}
{%- endfor %}
";

const NOTES: &str =
    "{{ release.name }} (revision {{ release.revision }}): {{ values.replicas }} VM(s).
";

/// Write the skeleton into `dir/NAME`, which must not exist yet.
pub fn create(dir: &Path, name: &str) -> Result<std::path::PathBuf, ChartError> {
    check_name(name)
        .map_err(|message| ChartError::Invalid { place: "chart name".into(), message })?;
    let root = dir.join(name);
    let io = |e: std::io::Error| ChartError::Io { path: root.display().to_string(), source: e };
    if root.exists() {
        return Err(ChartError::Invalid {
            place: root.display().to_string(),
            message: "already exists; choose another name or directory".into(),
        });
    }
    std::fs::create_dir_all(root.join("templates")).map_err(io)?;
    let files = [
        ("Chart.yaml", CHART.replace("{name}", name)),
        ("values.yaml", VALUES.to_string()),
        ("values.schema.json", SCHEMA.to_string()),
        ("templates/vms.yaml", TEMPLATE.to_string()),
        ("NOTES.txt", NOTES.to_string()),
    ];
    for (p, text) in files {
        std::fs::write(root.join(p), text).map_err(io)?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_skeleton_loads_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let root = super::create(dir.path(), "my-app").unwrap();
        let chart = crate::chart::Chart::from_dir(&root).unwrap();
        assert_eq!(chart.meta.name, "my-app");
        assert!(super::create(dir.path(), "my-app").is_err());
        assert!(super::create(dir.path(), "My_App").is_err());
    }
}
