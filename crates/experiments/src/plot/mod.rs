//! Figures, drawn only from the CSV data read back by [`crate::output::read_results`].
//!
//! [`figures`] turns the data into [`panel::Panel`]s for each plot kind; this module lays them out
//! (title on top, panels side by side, legend on the right, the spec's caption underneath) and
//! writes PNG and SVG atomically. Text uses DejaVu Sans embedded in the binary (Bitstream Vera license, see
//! `assets/DejaVuSans-LICENSE.txt`), so figures render on machines without system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::fsutil::with_atomic_paths;
use crate::output::RunData;
use crate::spec::Config;

pub mod figures;
pub mod panel;

use panel::{draw_panel, legend_of, LegendKey, Panel, Style};

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Makes the embedded font the "sans-serif" family (once per process).
fn register_font() {
    REGISTER.call_once(|| {
        for style in [
            FontStyle::Normal,
            FontStyle::Bold,
            FontStyle::Italic,
            FontStyle::Oblique,
        ] {
            // The font is compiled in and known to parse; a failure would show as missing text.
            let _ = plotters::style::register_font("sans-serif", style, FONT);
        }
    });
}

/// A failure while drawing (backend or file error), as text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlotError(pub String);

impl From<std::io::Error> for PlotError {
    fn from(e: std::io::Error) -> Self {
        Self(e.to_string())
    }
}

pub(crate) fn err<E: std::fmt::Display>(e: E) -> PlotError {
    PlotError(e.to_string())
}

/// Colour-blind-safe palette (Okabe–Ito), then a few extra.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
    RGBColor(120, 120, 120),
    RGBColor(150, 60, 30),
];

/// Human label of a trajectory quantity (see [`crate::quantity::label`]).
pub fn quantity_label(q: &str) -> String {
    crate::quantity::label(q)
}

/// Paths of the PNG and SVG of experiment `name` in `dir`.
pub fn figure_paths(dir: &Path, name: &str) -> [PathBuf; 2] {
    [
        dir.join(format!("{name}.png")),
        dir.join(format!("{name}.svg")),
    ]
}

/// The number of panels of `config`'s figure drawn from `runs`.
pub fn panel_count(config: &Config, runs: &[RunData]) -> Result<usize, PlotError> {
    Ok(figures::build(config, runs)?.len())
}

/// Draws the figure of `config` from `runs` into `<dir>/<name>.png` and `.svg`.
pub fn render(config: &Config, runs: &[RunData], dir: &Path) -> Result<[PathBuf; 2], PlotError> {
    register_font();
    let panels = figures::build(config, runs)?;
    if panels.len() > MAX_PANELS {
        return Err(PlotError(format!(
            "{}: the figure would have {} panels (one per combination of the swept values it does \
             not draw on one panel); at most {MAX_PANELS} are drawn: sweep fewer values, or draw \
             this data from runs.csv yourself",
            config.name,
            panels.len()
        )));
    }
    let (columns, rows) = grid_shape(config, panels.len());
    let (w, h) = config
        .spec
        .plot
        .size
        .unwrap_or((560 * columns + 300, 640 + 460 * (rows - 1)));
    let [png, svg] = figure_paths(dir, &config.name);
    with_atomic_paths(
        [&png, &svg],
        |[png_tmp, svg_tmp]| -> Result<(), PlotError> {
            let root = BitMapBackend::new(png_tmp, (w, h)).into_drawing_area();
            draw(&root, config, &panels)?;
            root.present().map_err(err)?;
            let root = SVGBackend::new(svg_tmp, (w, h)).into_drawing_area();
            draw(&root, config, &panels)?;
            root.present().map_err(err)
        },
    )?;
    Ok([png, svg])
}

/// Most panels a figure draws (a grid of 10 × 10 at most 5900 × 4780 pixels by default).
pub const MAX_PANELS: usize = 100;

/// Most panels a row holds by default (5900 pixels wide).
const DEFAULT_MAX_COLUMNS: u32 = 10;

/// (columns, rows) of the panel grid: `plot.columns` panels a row (default: all in one row, up
/// to [`DEFAULT_MAX_COLUMNS`]).
fn grid_shape(config: &Config, panels: usize) -> (u32, u32) {
    let panels = panels.max(1) as u32;
    let columns = config
        .spec
        .plot
        .columns
        .map_or(panels.min(DEFAULT_MAX_COLUMNS), |c| c.clamp(1, panels));
    (columns, panels.div_ceil(columns))
}

/// Greedy word wrap to about `width` characters a line ([`panel::wrap_words`]).
fn wrap(text: &str, width: usize) -> Vec<String> {
    panel::wrap_words(text, |line| Ok(line.chars().count() <= width)).unwrap_or_default()
    // counting characters cannot fail
}

/// The title of a quick-mode figure: the spec's, then what `[quick]` changed and, unless it set
/// them, that the title and caption describe the full spec; or that the spec has no `[quick]`.
fn quick_title(config: &Config) -> String {
    let title = &config.spec.title;
    match &config.quick_overrides {
        None => format!("{title} [QUICK MODE, but the spec has no [quick] table: full sizes]"),
        Some(q) => {
            let changes = if q.changes.is_empty() {
                "[quick] sets no value besides the text".to_string()
            } else {
                q.changes.join(", ")
            };
            let full = match (q.sets_title, q.sets_caption) {
                (false, false) => "; title and caption describe the full spec",
                (false, true) => "; the title describes the full spec",
                (true, false) => "; the caption describes the full spec",
                (true, true) => "",
            };
            format!("{title} [QUICK MODE: {changes}{full}]")
        }
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    config: &Config,
    panels: &[Panel],
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let caption_lines = wrap(&config.spec.caption, (w as usize / 8).max(40));
    let caption_h = 18 * caption_lines.len() as u32 + 16;
    let title = if config.quick {
        quick_title(config)
    } else {
        config.spec.title.clone()
    };
    // One line if it fits the width, else wrapped at spaces (a line per 22 pixels more).
    let title_font = TextStyle::from(("sans-serif", 18).into_font());
    let title_lines = panel::wrap_words(&title, |t| {
        Ok(root.estimate_text_size(t, &title_font).map_err(err)?.0 <= w.saturating_sub(28))
    })?;
    let title_h = 34 + 22 * title_lines.len().saturating_sub(1) as u32;
    let (title_area, rest) = root.split_vertically(title_h);
    for (i, line) in title_lines.iter().enumerate() {
        title_area
            .draw(&Text::new(
                line.clone(),
                (14, 8 + 22 * i as i32),
                ("sans-serif", 18).into_font(),
            ))
            .map_err(err)?;
    }
    let (chart_area, caption_area) = rest.split_vertically(h.saturating_sub(caption_h + title_h));
    for (i, line) in caption_lines.iter().enumerate() {
        caption_area
            .draw(&Text::new(
                line.clone(),
                (14, 6 + 18 * i as i32),
                ("sans-serif", 14).into_font().color(&RGBColor(60, 60, 60)),
            ))
            .map_err(err)?;
    }
    let legend_w = (w / 4).clamp(200, 320);
    let (charts, legend_area) = chart_area.split_horizontally(w.saturating_sub(legend_w));
    let (columns, rows) = grid_shape(config, panels.len());
    let cells = charts.split_evenly((rows as usize, columns as usize));
    for (cell, panel) in cells.iter().zip(panels) {
        draw_panel(cell, panel)?;
    }
    draw_legend(&legend_area, &legend_of(panels))
}

/// Draws legend entries as a column of keys with wrapped labels.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, LegendKey)],
) -> Result<(), PlotError> {
    let chars = (area.dim_in_pixel().0 as usize).saturating_sub(40) / 7;
    let mut y = 40;
    for (label, color, key) in entries {
        let c = *color;
        match key {
            LegendKey::Block => area
                .draw(&Rectangle::new(
                    [(4, y), (28, y + 14)],
                    c.mix(0.25).filled(),
                ))
                .map_err(err)?,
            LegendKey::Series(Style::Markers(r)) => area
                .draw(&Circle::new((16, y + 8), *r as i32, c.filled()))
                .map_err(err)?,
            LegendKey::Series(Style::HollowMarkers(r)) => {
                area.draw(&Circle::new((16, y + 8), *r as i32, WHITE.filled()))
                    .map_err(err)?;
                area.draw(&Circle::new((16, y + 8), *r as i32, c.stroke_width(2)))
                    .map_err(err)?
            }
            LegendKey::Series(Style::Dashed(w)) => {
                for x in [4, 16] {
                    area.draw(&PathElement::new(
                        vec![(x, y + 8), (x + 8, y + 8)],
                        c.stroke_width(*w + 1),
                    ))
                    .map_err(err)?;
                }
            }
            LegendKey::Series(Style::Line(w) | Style::LineMarkers(w)) => {
                area.draw(&PathElement::new(
                    vec![(4, y + 8), (28, y + 8)],
                    c.stroke_width(*w + 1),
                ))
                .map_err(err)?;
                if matches!(key, LegendKey::Series(Style::LineMarkers(_))) {
                    area.draw(&Circle::new((16, y + 8), 3, c.filled()))
                        .map_err(err)?;
                }
            }
        }
        for line in wrap(label, chars.max(12)) {
            area.draw(&Text::new(line, (34, y), ("sans-serif", 13).into_font()))
                .map_err(err)?;
            y += 17;
        }
        y += 7;
    }
    Ok(())
}
