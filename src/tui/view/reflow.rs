//! Reflowing a runbook's hard-wrapped text for the screen's own wrapping.
//!
//! Runbook texts are written wrapped at the author's editor width. Shown as they are, in a
//! panel of another width, every source line break becomes a ragged line. Reflowing joins the
//! lines of a paragraph and of a list item into one logical line each, which the panel then
//! wraps to its width. What stays a line of its own: a blank line, a list item (`- `, `* `,
//! `1. `, `1) `), a line after a list item that is not indented (a new paragraph), and any
//! line of a block indented by four spaces or more (commands, tables).

/// Whether `line` starts a list item.
fn is_item(line: &str) -> bool {
    let t = line.trim_start();
    if t.starts_with("- ") || t.starts_with("* ") {
        return true;
    }
    let digits = t.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && (t[digits..].starts_with(". ") || t[digits..].starts_with(") "))
}

/// Whether `line` is part of a preformatted block (indented by four spaces or more, and not a
/// list item's continuation, which is indented less).
fn is_preformatted(line: &str) -> bool {
    line.starts_with("    ") || line.starts_with('\t')
}

/// `text` with the line breaks inside paragraphs and list items removed.
pub fn reflow(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    // Whether the last logical line can take a continuation, and whether it is a list item.
    let mut open: Option<bool> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push(String::new());
            open = None;
            continue;
        }
        if is_item(line) {
            out.push(line.trim_end().to_owned());
            open = Some(true);
            continue;
        }
        if is_preformatted(line) {
            out.push(line.trim_end().to_owned());
            open = None;
            continue;
        }
        let indented = line.starts_with(' ');
        match (open, out.last_mut()) {
            // An item's indented continuation, or a paragraph's next line.
            (Some(true), Some(last)) if indented => {
                last.push(' ');
                last.push_str(trimmed);
            }
            (Some(false), Some(last)) => {
                last.push(' ');
                last.push_str(trimmed);
            }
            _ => {
                out.push(line.trim_end().to_owned());
                open = Some(false);
            }
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::reflow;

    #[test]
    fn paragraphs_join_and_list_items_keep_their_lines() {
        let text = "Everything configured after the backup is gone. Repeat the\n\
                    same changes:\n\
                    - synchronizer connections;\n\
                    - private keys: keys rotated after the backup are lost; register\n  \
                    every key created since.\n\
                    DAR uploads are handled by the next steps.\n\
                    \n\
                    1. first\n\
                    2) second\n\
                    \n\
                    Run:\n    \
                    docker compose down\n    \
                    docker compose up -d\n";
        assert_eq!(
            reflow(text),
            "Everything configured after the backup is gone. Repeat the same changes:\n\
             - synchronizer connections;\n\
             - private keys: keys rotated after the backup are lost; register every key created since.\n\
             DAR uploads are handled by the next steps.\n\
             \n\
             1. first\n\
             2) second\n\
             \n\
             Run:\n    \
             docker compose down\n    \
             docker compose up -d"
        );
    }

    #[test]
    fn a_single_line_is_unchanged() {
        assert_eq!(
            reflow("Run the validator-backup runbook."),
            "Run the validator-backup runbook."
        );
        assert_eq!(reflow(""), "");
        assert_eq!(reflow("12 dumps remain"), "12 dumps remain");
    }
}
