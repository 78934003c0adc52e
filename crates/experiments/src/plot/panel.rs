//! Generic chart panels: series, min–max bands and shaded x-intervals on linear or log axes.
//!
//! Log axes are drawn by plotting log10 of the values on a linear axis and labelling ticks as
//! powers of ten, so every axis combination goes through one code path. Points that a log axis
//! cannot show (≤ 0, non-finite) break a line instead of being drawn.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{err, PlotError};

/// One axis of a panel.
#[derive(Debug, Clone, Default)]
pub struct Axis {
    /// Axis label, with the quantity and its unit or scale.
    pub label: String,
    /// Logarithmic (base 10) scale.
    pub log: bool,
    /// Fixed range in data units (default: fitted to the data).
    pub range: Option<(f64, f64)>,
}

impl Axis {
    /// A linear axis.
    pub fn linear(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            ..Self::default()
        }
    }

    /// A log10 axis.
    pub fn log(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            log: true,
            range: None,
        }
    }

    fn map(&self, v: f64) -> Option<f64> {
        match (self.log, v.is_finite()) {
            (_, false) => None,
            (true, _) if v <= 0.0 => None,
            (true, _) => Some(v.log10()),
            (false, _) => Some(v),
        }
    }
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Style {
    /// Solid line of the given width.
    Line(u32),
    /// Dashed line of the given width.
    Dashed(u32),
    /// Circles of the given radius.
    Markers(u32),
    /// Solid line with circles.
    LineMarkers(u32),
    /// Open circles of the given radius (points that are not what the series claims, e.g. runs
    /// that had not settled when their budget ended).
    HollowMarkers(u32),
}

/// A labelled (or unlabelled) set of points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text (None: not in the legend).
    pub label: Option<String>,
    /// Colour.
    pub color: RGBColor,
    /// Opacity 0..1.
    pub opacity: f64,
    /// Drawing style.
    pub style: Style,
    /// Points in data units.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// An opaque series.
    pub fn new(
        label: Option<String>,
        color: RGBColor,
        style: Style,
        points: Vec<(f64, f64)>,
    ) -> Self {
        Self {
            label,
            color,
            opacity: 1.0,
            style,
            points,
        }
    }
}

/// A filled band between lower and upper values: points (x, lower, upper).
#[derive(Debug, Clone)]
pub struct Band {
    /// Colour (drawn translucent).
    pub color: RGBColor,
    /// (x, lower, upper).
    pub points: Vec<(f64, f64, f64)>,
}

/// A shaded x-interval (e.g. a phase), labelled in the legend.
#[derive(Debug, Clone)]
pub struct Shade {
    /// Start (data units).
    pub from: f64,
    /// End (data units).
    pub to: f64,
    /// Colour (drawn very light).
    pub color: RGBColor,
    /// Legend text.
    pub label: String,
}

/// One chart.
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Title above the chart.
    pub title: String,
    /// Horizontal axis.
    pub x: Axis,
    /// Vertical axis.
    pub y: Axis,
    /// Lines and markers.
    pub series: Vec<Series>,
    /// Min–max bands (drawn under the series).
    pub bands: Vec<Band>,
    /// Shaded x-intervals (drawn first).
    pub shades: Vec<Shade>,
}

/// A legend entry.
#[derive(Debug, Clone, PartialEq)]
pub enum LegendKey {
    /// A series style.
    Series(Style),
    /// A shaded area.
    Block,
}

/// The legend entries of some panels (first occurrence of each label).
pub fn legend_of(panels: &[Panel]) -> Vec<(String, RGBColor, LegendKey)> {
    let mut out: Vec<(String, RGBColor, LegendKey)> = Vec::new();
    for p in panels {
        for s in &p.shades {
            if !out.iter().any(|e| e.0 == s.label) {
                out.push((s.label.clone(), s.color, LegendKey::Block));
            }
        }
        for s in &p.series {
            if let Some(l) = &s.label {
                if !out.iter().any(|e| &e.0 == l) {
                    out.push((l.clone(), s.color, LegendKey::Series(s.style)));
                }
            }
        }
    }
    out
}

fn fit_range(axis: &Axis, values: impl Iterator<Item = f64>) -> (f64, f64) {
    if let Some((a, b)) = axis.range {
        let (a, b) = (axis.map(a).unwrap_or(0.0), axis.map(b).unwrap_or(1.0));
        return (a.min(b), a.max(b));
    }
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if axis.log {
        let (lo, hi) = (lo.floor(), hi.ceil());
        return (lo, if hi > lo { hi } else { lo + 1.0 });
    }
    let pad = if hi > lo {
        0.04 * (hi - lo)
    } else {
        0.5f64.max(lo.abs() * 0.1)
    };
    (lo - pad, hi + pad)
}

/// Tick label; on a log axis spanning at least one decade only whole decades are labelled.
fn tick_label(axis: &Axis, v: f64, span: f64) -> String {
    if axis.log && span >= 1.0 && (v - v.round()).abs() > 1e-6 {
        return String::new();
    }
    if !axis.log {
        if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-2) {
            return format!("{v:.1e}");
        }
        let s = format!("{v:.2}");
        return s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    if (v - v.round()).abs() < 1e-6 {
        format!("1e{}", v.round() as i32)
    } else {
        format!("{:.1e}", 10f64.powf(v))
    }
}

/// Splits points into maximal runs the axes can show.
fn segments(x: &Axis, y: &Axis, pts: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = vec![Vec::new()];
    for &(a, b) in pts {
        match (x.map(a), y.map(b)) {
            (Some(a), Some(b)) => out.last_mut().expect("non-empty").push((a, b)),
            _ => {
                if !out.last().expect("non-empty").is_empty() {
                    out.push(Vec::new());
                }
            }
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Greedy word wrap: `text`'s words (split at whitespace) in lines, each as long as `fits`
/// allows (a word wider than that alone on its line); no line for a text without words.
pub(super) fn wrap_words(
    text: &str,
    mut fits: impl FnMut(&str) -> Result<bool, PlotError>,
) -> Result<Vec<String>, PlotError> {
    let mut out = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        let candidate = if current.is_empty() {
            word.to_string()
        } else {
            format!("{current} {word}")
        };
        if current.is_empty() || fits(&candidate)? {
            current = candidate;
        } else {
            out.push(std::mem::replace(&mut current, word.to_string()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// `title` in lines that each fit the width of `area` (the whole width, so that titles which
/// fit are drawn as before), broken after "; " where possible, else at spaces; one line if it
/// fits, none if it is empty.
fn wrap_title<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<Vec<String>, PlotError> {
    if title.is_empty() {
        return Ok(Vec::new());
    }
    let font = TextStyle::from(("sans-serif", 15).into_font());
    let max = area.dim_in_pixel().0;
    let fits = |t: &str| -> Result<bool, PlotError> {
        Ok(area.estimate_text_size(t, &font).map_err(err)?.0 <= max)
    };
    if fits(title)? {
        return Ok(vec![title.to_string()]);
    }
    let mut lines: Vec<String> = Vec::new();
    for clause in title.split_inclusive("; ") {
        let joined = lines.last().map(|l| format!("{l}{clause}"));
        match joined {
            Some(j) if fits(j.trim_end())? => *lines.last_mut().expect("a line") = j,
            _ => lines.push(clause.to_string()),
        }
    }
    // Clauses still too wide: at spaces.
    let mut out = Vec::new();
    for line in lines {
        out.extend(wrap_words(line.trim_end(), fits)?);
    }
    Ok(out)
}

/// Draws one panel into `area`.
pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
) -> Result<(), PlotError> {
    let xs = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(
            panel
                .bands
                .iter()
                .flat_map(|b| b.points.iter().map(|p| p.0)),
        )
        .filter_map(|v| panel.x.map(v));
    let (x0, x1) = fit_range(&panel.x, xs);
    let ys = panel
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(
            panel
                .bands
                .iter()
                .flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2])),
        )
        .filter_map(|v| panel.y.map(v));
    let (y0, y1) = fit_range(&panel.y, ys);
    // A title wider than the panel is wrapped at "; " or spaces, line by line above the chart
    // (plotters' caption is one line, cut at the panel's edges); one that fits is its caption.
    let lines = wrap_title(area, &panel.title)?;
    let body = if lines.len() <= 1 {
        area.clone()
    } else {
        let line_height = 18;
        let (top, body) = area.split_vertically(6 + line_height * lines.len() as i32);
        let width = top.dim_in_pixel().0 as i32;
        let style = TextStyle::from(("sans-serif", 15).into_font()).pos(
            plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ),
        );
        for (i, line) in lines.iter().enumerate() {
            top.draw_text(line, &style, (width / 2, 4 + line_height * i as i32))
                .map_err(err)?;
        }
        body
    };
    let mut builder = ChartBuilder::on(&body);
    if lines.len() <= 1 {
        builder.caption(&panel.title, ("sans-serif", 15));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(62)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    let xf = |v: &f64| tick_label(&panel.x, *v, x1 - x0);
    let yf = |v: &f64| tick_label(&panel.y, *v, y1 - y0);
    chart
        .configure_mesh()
        .x_desc(panel.x.label.as_str())
        .y_desc(panel.y.label.as_str())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    for s in &panel.shades {
        let (Some(a), Some(b)) = (panel.x.map(s.from), panel.x.map(s.to)) else {
            continue;
        };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a.max(x0), y0), (b.min(x1), y1)],
                s.color.mix(0.13).filled(),
            )))
            .map_err(err)?;
    }
    for b in &panel.bands {
        let upper: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.2)).collect();
        let lower: Vec<(f64, f64)> = b.points.iter().map(|p| (p.0, p.1)).collect();
        for (up, lo) in segments(&panel.x, &panel.y, &upper)
            .into_iter()
            .zip(segments(&panel.x, &panel.y, &lower))
        {
            let poly: Vec<(f64, f64)> =
                up.iter().copied().chain(lo.iter().rev().copied()).collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    poly,
                    b.color.mix(0.18).filled(),
                )))
                .map_err(err)?;
        }
    }
    for s in &panel.series {
        let color = s.color.mix(s.opacity);
        for seg in segments(&panel.x, &panel.y, &s.points) {
            match s.style {
                Style::Line(w) => {
                    chart
                        .draw_series(LineSeries::new(seg, color.stroke_width(w)))
                        .map_err(err)?;
                }
                Style::Dashed(w) => {
                    chart
                        .draw_series(DashedLineSeries::new(seg, 7, 5, color.stroke_width(w)))
                        .map_err(err)?;
                }
                Style::Markers(r) => {
                    chart
                        .draw_series(seg.into_iter().map(|p| Circle::new(p, r, color.filled())))
                        .map_err(err)?;
                }
                Style::HollowMarkers(r) => {
                    chart
                        .draw_series(seg.iter().map(|&p| Circle::new(p, r, WHITE.filled())))
                        .map_err(err)?;
                    chart
                        .draw_series(
                            seg.into_iter()
                                .map(|p| Circle::new(p, r, color.stroke_width(2))),
                        )
                        .map_err(err)?;
                }
                Style::LineMarkers(w) => {
                    chart
                        .draw_series(LineSeries::new(seg.clone(), color.stroke_width(w)))
                        .map_err(err)?;
                    chart
                        .draw_series(
                            seg.into_iter()
                                .map(|p| Circle::new(p, w + 2, color.filled())),
                        )
                        .map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_title_is_wrapped_into_lines_that_fit_and_keep_every_word() {
        crate::plot::register_font();
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (460, 300)).into_drawing_area();
        let title = "final test error (median, band: min–max); 2 of 4 runs diverged or stopped \
                     and are left out; 1 of 6 points unsettled (hollow); left out of the fits";
        let lines = wrap_title(&root, title).unwrap();
        assert!(lines.len() >= 2, "{lines:?}");
        let style = TextStyle::from(("sans-serif", 15).into_font());
        for l in &lines {
            assert!(root.estimate_text_size(l, &style).unwrap().0 <= 460, "{l}");
        }
        let words = |t: &str| t.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        assert_eq!(words(&lines.join(" ")), words(title));
        // Broken after "; " first: the first line ends a clause.
        assert!(lines[0].trim_end().ends_with(';'), "{lines:?}");
        // A title that fits stays one line; an empty one is none.
        assert_eq!(wrap_title(&root, "short").unwrap(), ["short"]);
        assert!(wrap_title(&root, "").unwrap().is_empty());
    }
}
