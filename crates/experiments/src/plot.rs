//! Figures, drawn only from the CSV data read back by [`crate::output::read_results`].
//!
//! Every figure is written as PNG and SVG (atomically) with the caption from the spec under the
//! chart. Text uses DejaVu Sans embedded in the binary (Bitstream Vera license, see
//! `assets/DejaVuSans-LICENSE.txt`), so figures render on machines without system fonts.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::fsutil::with_atomic_path;
use crate::output::RunData;
use crate::spec::{Config, PlotKind};

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
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

fn err<E: std::fmt::Display>(e: E) -> PlotError {
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

/// Human label of a trajectory quantity.
pub fn quantity_label(q: &str) -> String {
    match q {
        "loss" => "loss f(U) = ¼‖A(UUᵀ) − y‖²".into(),
        "test_error" => "test error ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F".into(),
        "train_error" => "train error ‖A(UUᵀ) − y‖ / ‖y‖".into(),
        "sigma_min_vx_u" => "σ_r(V_Xᵀ U)".into(),
        "sigma_min_signal" => "σ_min(UW) (signal)".into(),
        "noise_norm" => "‖UW_⊥‖ (noise)".into(),
        "sin_theta" => "sin θ = ‖V_X⊥ᵀ V_UW‖ (alignment)".into(),
        "u_norm" => "‖U‖".into(),
        other => match other.strip_prefix("sigma_u_") {
            Some(k) => format!("σ_{k}(U)"),
            None => other.to_string(),
        },
    }
}

/// Paths of the PNG and SVG of experiment `name` in `dir`.
pub fn figure_paths(dir: &Path, name: &str) -> [PathBuf; 2] {
    [
        dir.join(format!("{name}.png")),
        dir.join(format!("{name}.svg")),
    ]
}

/// Draws the figure of `config` from `runs` into `<dir>/<name>.png` and `.svg`.
pub fn render(config: &Config, runs: &[RunData], dir: &Path) -> Result<[PathBuf; 2], PlotError> {
    register_font();
    let (w, h) = config.spec.plot.size.unwrap_or((1000, 640));
    let [png, svg] = figure_paths(dir, &config.name);
    with_atomic_path(&png, |tmp| -> Result<(), PlotError> {
        let root = BitMapBackend::new(tmp, (w, h)).into_drawing_area();
        draw(&root, config, runs)?;
        root.present().map_err(err)
    })?;
    with_atomic_path(&svg, |tmp| -> Result<(), PlotError> {
        let root = SVGBackend::new(tmp, (w, h)).into_drawing_area();
        draw(&root, config, runs)?;
        root.present().map_err(err)
    })?;
    Ok([png, svg])
}

/// Greedy word wrap to about `width` characters a line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    config: &Config,
    runs: &[RunData],
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let (w, h) = root.dim_in_pixel();
    let caption_lines = wrap(&config.spec.caption, (w as usize / 8).max(40));
    let caption_h = 18 * caption_lines.len() as u32 + 16;
    let (title_area, rest) = root.split_vertically(34);
    title_area
        .draw(&Text::new(
            config.spec.title.clone(),
            (14, 8),
            ("sans-serif", 18).into_font(),
        ))
        .map_err(err)?;
    let (chart_area, caption_area) = rest.split_vertically(h.saturating_sub(caption_h + 34));
    for (i, line) in caption_lines.iter().enumerate() {
        caption_area
            .draw(&Text::new(
                line.clone(),
                (14, 6 + 18 * i as i32),
                ("sans-serif", 14).into_font().color(&RGBColor(60, 60, 60)),
            ))
            .map_err(err)?;
    }
    match config.spec.plot.kind {
        PlotKind::Trajectories => draw_trajectories(&chart_area, config, runs),
        _ => Err(PlotError("not yet".into())),
    }
}

/// Splits (x, y) into maximal runs of finite positive y (log axes cannot show the rest).
fn positive_segments(x: &[f64], y: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for (&a, &b) in x.iter().zip(y) {
        if b.is_finite() && b > 0.0 {
            out.last_mut().expect("non-empty").push((a, b));
        } else if !out.last().expect("non-empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The range [lo, hi] of positive finite values, widened to whole decades.
fn log_range<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && **v > 0.0)
        .fold((f64::INFINITY, 0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return (1e-3, 1.0);
    }
    (
        10f64.powf(lo.log10().floor()),
        10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)),
    )
}

fn decade_label(v: &f64) -> String {
    let e = v.log10();
    if (e - e.round()).abs() < 1e-9 {
        format!("1e{}", e.round() as i32)
    } else {
        format!("{v:.0e}")
    }
}

fn draw_trajectories<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    config: &Config,
    runs: &[RunData],
) -> Result<(), PlotError> {
    let quantities = &config.spec.plot.quantities;
    let t_max = runs
        .iter()
        .filter_map(|r| r.t.last())
        .copied()
        .max()
        .unwrap_or(1) as f64;
    let (lo, hi) = log_range(
        runs.iter()
            .flat_map(|r| quantities.iter().flat_map(move |q| r.get(q).iter())),
    );
    let (area, legend_area) = split_legend(area);
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..t_max, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("iteration t")
        .y_desc("value (log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&decade_label)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let mut legend = Vec::new();
    for (qi, q) in quantities.iter().enumerate() {
        let color = PALETTE[qi % PALETTE.len()];
        legend.push((quantity_label(q), color));
        for run in runs {
            let x: Vec<f64> = run.t.iter().map(|&t| t as f64).collect();
            for seg in positive_segments(&x, run.get(q)) {
                chart
                    .draw_series(LineSeries::new(seg, color.stroke_width(2)))
                    .map_err(err)?;
            }
        }
    }
    draw_legend(&legend_area, &legend)
}

/// Splits off a panel on the right for the legend (so it never hides data).
fn split_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
) -> (DrawingArea<DB, Shift>, DrawingArea<DB, Shift>) {
    let w = area.dim_in_pixel().0;
    let legend_w = (w / 4).clamp(180, 320);
    area.split_horizontally(w.saturating_sub(legend_w))
}

/// Draws legend entries (label, colour) as a column of short lines with wrapped labels.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor)],
) -> Result<(), PlotError> {
    let chars = (area.dim_in_pixel().0 as usize).saturating_sub(40) / 7;
    let mut y = 50;
    for (label, color) in entries {
        area.draw(&PathElement::new(
            vec![(4, y + 8), (28, y + 8)],
            color.stroke_width(3),
        ))
        .map_err(err)?;
        for line in wrap(label, chars.max(12)) {
            area.draw(&Text::new(line, (34, y), ("sans-serif", 13).into_font()))
                .map_err(err)?;
            y += 17;
        }
        y += 8;
    }
    Ok(())
}
