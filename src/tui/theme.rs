//! Colours and emphasis. With `NO_COLOR` every style keeps its modifiers (bold, reversed,
//! underlined) and drops its colours, so meaning never rests on colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::record::Mode;

/// The styles every view draws with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Draw without colours (`NO_COLOR`).
    pub no_color: bool,
}

impl Theme {
    /// A theme, with or without colours.
    pub fn new(no_color: bool) -> Theme {
        Theme { no_color }
    }

    fn fg(self, c: Color) -> Style {
        if self.no_color {
            Style::default()
        } else {
            Style::default().fg(c)
        }
    }

    /// The colour that stands for a mode.
    pub fn mode_color(self, mode: Mode) -> Color {
        match mode {
            Mode::Live => Color::Red,
            Mode::DryRun => Color::Cyan,
            Mode::Drill => Color::Yellow,
        }
    }

    /// The mode banner: a block of colour that cannot be missed, or reversed text without
    /// colour.
    pub fn mode_banner(self, mode: Mode) -> Style {
        let base = Style::default().add_modifier(Modifier::BOLD);
        if self.no_color {
            return base.add_modifier(Modifier::REVERSED);
        }
        let fg = match mode {
            Mode::Live => Color::White,
            Mode::DryRun | Mode::Drill => Color::Black,
        };
        base.fg(fg).bg(self.mode_color(mode))
    }

    /// Borders drawn in the mode's colour.
    pub fn mode_border(self, mode: Mode) -> Style {
        self.fg(self.mode_color(mode))
    }

    /// Something verified or done.
    pub fn ok(self) -> Style {
        self.fg(Color::Green)
    }

    /// Something failed or unsafe.
    pub fn fail(self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    /// Something to pay attention to.
    pub fn warn(self) -> Style {
        self.fg(Color::Yellow)
    }

    /// Secondary text.
    pub fn dim(self) -> Style {
        if self.no_color {
            Style::default()
        } else {
            Style::default().fg(Color::DarkGray)
        }
    }

    /// Headings.
    pub fn heading(self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The operator's next action.
    pub fn next(self) -> Style {
        self.fg(Color::LightCyan).add_modifier(Modifier::BOLD)
    }

    /// Key names in hints and help.
    pub fn key(self) -> Style {
        self.fg(Color::LightYellow).add_modifier(Modifier::BOLD)
    }

    /// The selected row of a list.
    pub fn selected(self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// A running step.
    pub fn running(self) -> Style {
        self.fg(Color::LightBlue).add_modifier(Modifier::BOLD)
    }

    /// Plain text that stands out.
    pub fn strong(self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    /// A text field.
    pub fn field(self, focused: bool) -> Style {
        let s = Style::default().add_modifier(Modifier::UNDERLINED);
        if focused {
            s.add_modifier(Modifier::BOLD)
        } else {
            s
        }
    }

    /// A drill verdict banner.
    pub fn verdict(self, passed: bool) -> Style {
        let base = Style::default().add_modifier(Modifier::BOLD);
        if self.no_color {
            return base.add_modifier(Modifier::REVERSED);
        }
        if passed {
            base.fg(Color::Black).bg(Color::Green)
        } else {
            base.fg(Color::White).bg(Color::Red)
        }
    }

    /// A share of the recovery budget: green, yellow past three quarters, red when over.
    pub fn budget(self, fraction: f64) -> Style {
        if fraction > 1.0 {
            self.fail()
        } else if fraction > 0.75 {
            self.warn()
        } else {
            self.ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_have_distinct_colours() {
        let t = Theme::new(false);
        let bgs: Vec<_> = [Mode::Live, Mode::DryRun, Mode::Drill]
            .iter()
            .map(|m| t.mode_banner(*m).bg)
            .collect();
        assert_eq!(
            bgs,
            vec![Some(Color::Red), Some(Color::Cyan), Some(Color::Yellow)]
        );
    }

    #[test]
    fn no_color_keeps_emphasis_and_drops_colour() {
        let t = Theme::new(true);
        for style in [
            t.mode_banner(Mode::Live),
            t.ok(),
            t.fail(),
            t.warn(),
            t.dim(),
            t.heading(),
            t.verdict(true),
            t.budget(2.0),
        ] {
            assert_eq!(style.fg, None, "{style:?}");
            assert_eq!(style.bg, None, "{style:?}");
        }
        assert!(
            t.mode_banner(Mode::Drill)
                .add_modifier
                .contains(Modifier::REVERSED)
        );
        assert!(t.fail().add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn budget_colour_by_share() {
        let t = Theme::new(false);
        assert_eq!(t.budget(0.5).fg, Some(Color::Green));
        assert_eq!(t.budget(0.9).fg, Some(Color::Yellow));
        assert_eq!(t.budget(1.2).fg, Some(Color::Red));
    }
}
