//! `multipart/form-data` for `POST .../upload`. PVE parses the stream as it arrives, so only
//! text fields that come *before* the file part count; fields after it are ignored, which then
//! fails validation like a missing parameter.

/// Text fields before the file, and the file part (its `filename` attribute and bytes).
pub type Parsed = (Vec<(String, String)>, Option<(String, Vec<u8>)>);

pub fn parse(content_type: &str, body: &[u8]) -> Result<Parsed, String> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("multipart body without boundary")?;
    let delim = format!("--{boundary}").into_bytes();
    let mut fields = Vec::new();
    let mut file = None;
    let mut pos = find(body, &delim, 0).ok_or("multipart body without parts")?;
    loop {
        pos += delim.len();
        if body.get(pos..pos + 2) == Some(b"--") {
            break;
        }
        pos += 2; // CRLF after the delimiter
        let head_end = find(body, b"\r\n\r\n", pos).ok_or("multipart part without headers")?;
        let head = String::from_utf8_lossy(&body[pos..head_end]).to_string();
        let data_start = head_end + 4;
        let next = find(body, &delim, data_start).ok_or("multipart part not terminated")?;
        let data_end = next.saturating_sub(2); // CRLF before the delimiter
        let data = body.get(data_start..data_end).ok_or("malformed multipart part")?;
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .ok_or("multipart part without Content-Disposition")?;
        if !disp.to_ascii_lowercase().contains("form-data") {
            return Err("multipart Content-Disposition must be form-data".into());
        }
        let name = attr(disp, "name").ok_or("multipart part without a name")?;
        match attr(disp, "filename") {
            Some(fname) if file.is_none() => file = Some((fname, data.to_vec())),
            Some(_) => return Err("more than one file in upload".into()),
            None if file.is_none() => {
                fields.push((name, String::from_utf8_lossy(data).to_string()))
            }
            None => {}
        }
        pos = next;
    }
    Ok((fields, file))
}

fn attr(disp: &str, key: &str) -> Option<String> {
    disp.split(';').find_map(|p| {
        let p = p.trim();
        let v = p.strip_prefix(&format!("{key}="))?;
        Some(v.trim_matches('"').to_string())
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|i| i + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &str)]) -> Vec<u8> {
        let mut b = String::new();
        for (name, fname, data) in parts {
            b.push_str("--XX\r\nContent-Disposition: form-data; name=\"");
            b.push_str(name);
            b.push('"');
            if let Some(f) = fname {
                b.push_str(&format!("; filename=\"{f}\""));
            }
            b.push_str("\r\n\r\n");
            b.push_str(data);
            b.push_str("\r\n");
        }
        b.push_str("--XX--\r\n");
        b.into_bytes()
    }

    #[test]
    fn fields_before_the_file_count_and_fields_after_are_dropped() {
        let b = body(&[
            ("content", None, "iso"),
            ("filename", Some("x.iso"), "DATA"),
            ("checksum", None, "ab"),
        ]);
        let (fields, file) = parse("multipart/form-data; boundary=XX", &b).unwrap();
        assert_eq!(fields, vec![("content".to_string(), "iso".to_string())]);
        assert_eq!(file, Some(("x.iso".to_string(), b"DATA".to_vec())));
    }

    #[test]
    fn a_body_without_boundary_is_an_error() {
        assert!(parse("multipart/form-data", b"x").is_err());
    }
}
