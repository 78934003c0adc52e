//! From CSV data to panels, one builder per [`PlotKind`]. Nothing here computes new runs: every
//! number drawn is read from runs.csv / trajectories.csv (medians and fits are summaries of them).

use lowrank_core::analysis::{linear_fit, median, power_law_fit};

use crate::output::is_settled;
use plotters::style::RGBColor;

use super::panel::{Axis, Band, Panel, Series, Shade, Style};
use super::{quantity_label, PlotError, PALETTE};
use crate::output::{col, Column, RunData};
use crate::quantity::{Named, TEST_ERROR, TRAIN_ERROR};
use crate::spec::{Config, Parameter, PlotKind};

/// The panels of the figure of `config`.
pub fn build(config: &Config, runs: &[RunData]) -> Result<Vec<Panel>, PlotError> {
    if runs.is_empty() {
        return Err(PlotError("runs.csv has no runs".into()));
    }
    use Parameter::{Alpha, Init, RPrime};
    Ok(match config.spec.plot.kind {
        PlotKind::Trajectories => per_facet(config, runs, &[], |rs| vec![trajectories(config, rs)]),
        PlotKind::ErrorVsParameter => vec![error_vs_parameter(config, runs)],
        PlotKind::Overparameterization => {
            per_facet(config, runs, &[Some(RPrime)], overparameterization)
        }
        PlotKind::InitComparison => {
            per_facet(config, runs, &[Some(Alpha), Some(Init)], init_comparison)
        }
        PlotKind::PhaseLengths => {
            per_facet(config, runs, &[Some(Alpha)], |rs| vec![phase_lengths(rs)])
        }
        PlotKind::IterationsToError => iterations_to_error(config, runs),
        PlotKind::TrajectoryComparison => trajectory_comparison(config, runs),
        PlotKind::SuccessRate => success_rate(config, runs),
    })
}

/// The panels of `draw` for each combination of the swept parameters other than `used` (those
/// `draw` tells apart), titled by it: a figure drawn over runs of several configurations would
/// otherwise pool them into one median. With one combination, `draw` of all runs as they are.
fn per_facet(
    config: &Config,
    runs: &[RunData],
    used: &[Option<Parameter>],
    draw: impl Fn(&[RunData]) -> Vec<Panel>,
) -> Vec<Panel> {
    let all: Vec<&RunData> = runs.iter().collect();
    let facets = facets(config, &all, used);
    if facets.len() <= 1 {
        return draw(runs);
    }
    facets
        .into_iter()
        .flat_map(|(label, rs)| {
            let rs: Vec<RunData> = rs.into_iter().cloned().collect();
            draw(&rs).into_iter().map(move |mut panel| {
                panel.title = if panel.title.is_empty() {
                    label.clone()
                } else {
                    format!("{label}: {}", panel.title)
                };
                panel
            })
        })
        .collect()
}

/// The runs split by the combination of values of the swept parameters other than `used` (one
/// panel each, in grid order of first appearance), with a label like "r'=3, α=1e-7" ("" if none).
fn facets<'a>(
    config: &Config,
    runs: &[&'a RunData],
    used: &[Option<Parameter>],
) -> Vec<(String, Vec<&'a RunData>)> {
    let others: Vec<Parameter> = crate::spec::swept_parameters(&config.spec)
        .into_iter()
        .filter(|p| !used.contains(&Some(*p)))
        .collect();
    let mut out: Vec<(String, Vec<&RunData>)> = Vec::new();
    for &r in runs {
        let label = others
            .iter()
            .map(|&p| group_label(p, r))
            .collect::<Vec<_>>()
            .join(", ");
        match out.iter_mut().find(|f| f.0 == label) {
            Some(f) => f.1.push(r),
            None => out.push((label, vec![r])),
        }
    }
    out
}

/// The groups of `runs` by `group` (one group of all runs if None), labelled.
fn labelled_groups<'a>(
    runs: &[&'a RunData],
    group: Option<Parameter>,
) -> Vec<(String, Vec<&'a RunData>)> {
    match group {
        Some(g) => group_by(runs, g.col())
            .into_iter()
            .map(|(_, _, rs)| (group_label(g, rs[0]), rs))
            .collect(),
        None => vec![(String::new(), runs.to_vec())],
    }
}

/// The first logged t with test error ≤ ε, if the run reached it.
fn first_below(run: &RunData, eps: f64) -> Option<usize> {
    run.t
        .iter()
        .zip(run.get(&TEST_ERROR))
        .find(|(_, &e)| e <= eps)
        .map(|(&t, _)| t)
}

fn iterations_to_error(config: &Config, runs: &[RunData]) -> Vec<Panel> {
    let plot = &config.spec.plot;
    let x = plot.x.unwrap_or(Parameter::Kappa);
    let eps = plot.target_error.unwrap_or(1e-3);
    let all: Vec<&RunData> = runs.iter().collect();
    let budget = config.spec.gd.iterations as f64;
    facets(config, &all, &[Some(x), plot.group])
        .into_iter()
        .map(|(facet, rs)| {
            let mut missed_points = Vec::new();
            let mut slopes = Vec::new();
            let mut panel = Panel {
                x: parameter_axis(x),
                y: Axis::log(format!("iterations to test error ≤ {eps:e} (log)")),
                ..Panel::default()
            };
            for (i, (label, gr)) in labelled_groups(&rs, plot.group).iter().enumerate() {
                let mut med = Vec::new();
                let mut band = Vec::new();
                let mut group_missed = Vec::new();
                for (_, xv, at) in group_by(gr, x.col()) {
                    // Unreached (or diverged) runs count as +∞ in the median, so a median is
                    // drawn only where most replicates reached ε.
                    let mut reached: Vec<f64> = Vec::new();
                    let mut values: Vec<f64> = Vec::new();
                    for r in &at {
                        match first_below(r, eps).filter(|_| r.text(col::STATUS) != "diverged") {
                            Some(t) => {
                                reached.push(t as f64);
                                values.push(t as f64);
                            }
                            None => {
                                values.push(f64::INFINITY);
                                group_missed.push((xv, budget));
                            }
                        }
                    }
                    let m = median(&values);
                    if m.is_finite() {
                        med.push((xv, m));
                    }
                    if !reached.is_empty() {
                        let lo = reached.iter().copied().fold(f64::INFINITY, f64::min);
                        let hi = reached.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                        band.push((xv, lo, hi));
                    }
                }
                let (xs, ys): (Vec<f64>, Vec<f64>) = med.iter().copied().unzip();
                let slope =
                    power_law_fit(&xs, &ys).map_or("n/a".into(), |f| format!("{:.2}", f.slope));
                let name = if label.is_empty() {
                    "median".to_string()
                } else {
                    label.clone()
                };
                // The legend is shared by the panels, so each panel's slopes go in its title.
                slopes.push(format!("{name} {slope}"));
                panel.bands.push(Band {
                    color: color(i),
                    points: band,
                });
                panel.series.push(Series::new(
                    Some(name),
                    color(i),
                    Style::LineMarkers(2),
                    med,
                ));
                // In the group's colour, so that a miss says which group missed, and a ring
                // of its own size, smaller for later groups (drawn on top, each white inside),
                // so that the groups' misses at one x stay visible.
                if !group_missed.is_empty() {
                    missed_points.extend(group_missed.iter().copied());
                    panel.series.push(Series::new(
                        None,
                        color(i),
                        Style::HollowMarkers(10u32.saturating_sub(2 * i as u32).max(3)),
                        group_missed,
                    ));
                }
            }
            let missed = missed_points.len();
            if missed > 0 {
                // The legend's entry (no points of its own).
                panel.series.push(Series::new(
                    Some(format!(
                        "did not reach ε within T = {budget} (rings at T, in the group's colour)"
                    )),
                    RGBColor(90, 90, 90),
                    Style::HollowMarkers(5),
                    Vec::new(),
                ));
            }
            // Median over replicates and the min–max band are stated in the caption; the title
            // carries what differs between panels.
            let prefix = if facet.is_empty() {
                String::new()
            } else {
                format!("{facet}: ")
            };
            panel.title = format!("{prefix}fitted slopes {}", slopes.join(", "));
            if missed > 0 {
                panel.title += &format!("; {missed} of {} runs did not reach ε", rs.len());
            }
            panel
        })
        .collect()
}

fn trajectory_comparison(config: &Config, runs: &[RunData]) -> Vec<Panel> {
    let plot = &config.spec.plot;
    let q = plot
        .quantities
        .first()
        .map_or(TEST_ERROR.name, String::as_str);
    let all: Vec<&RunData> = runs.iter().collect();
    let drop_zero = |pts: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        if plot.log_t {
            pts.into_iter().filter(|p| p.0 > 0.0).collect()
        } else {
            pts
        }
    };
    facets(config, &all, &[plot.group])
        .into_iter()
        .map(|(facet, rs)| {
            let not_completed = rs
                .iter()
                .filter(|r| r.text(col::STATUS) != "completed")
                .count();
            let mut title = facet.clone();
            if let Some(eps) = plot.target_error {
                // The legend is shared by the panels, so each panel's counts go in its title.
                let counts: Vec<String> = labelled_groups(&rs, plot.group)
                    .iter()
                    .map(|(label, gr)| {
                        let reached = gr.iter().filter(|r| reaches(r, eps)).count();
                        let name = if label.is_empty() { "runs" } else { label };
                        format!("{name} {reached}/{}", gr.len())
                    })
                    .collect();
                title += &format!(
                    "{}ended ≤ {eps:e}: {}",
                    if title.is_empty() { "" } else { "; " },
                    counts.join(", ")
                );
            }
            if not_completed > 0 {
                title += &format!(
                    "{}{not_completed} of {} runs did not complete (their lines end there)",
                    if title.is_empty() { "" } else { "; " },
                    rs.len()
                );
            }
            let mut panel = Panel {
                title,
                x: Axis {
                    label: if plot.log_t {
                        "iteration t (log)".into()
                    } else {
                        "iteration t".into()
                    },
                    log: plot.log_t,
                    range: None,
                },
                y: Axis::log(format!("{} (log)", quantity_label(q))),
                ..Panel::default()
            };
            for (i, (label, gr)) in labelled_groups(&rs, plot.group).iter().enumerate() {
                if gr.len() > 1 {
                    for r in gr {
                        let mut s = Series::new(
                            None,
                            color(i),
                            Style::Line(1),
                            drop_zero(trajectory_points(r, q)),
                        );
                        s.opacity = 0.3;
                        panel.series.push(s);
                    }
                }
                let name = if label.is_empty() {
                    quantity_label(q)
                } else {
                    label.clone()
                };
                panel.series.push(Series::new(
                    Some(name),
                    color(i),
                    Style::Line(2),
                    drop_zero(median_trajectory(gr, q)),
                ));
            }
            panel
        })
        .collect()
}

/// Whether a run ended with test error ≤ ε and did not diverge.
fn reaches(run: &RunData, eps: f64) -> bool {
    run.text(col::STATUS) != "diverged" && run.num(col::FINAL_TEST_ERROR) <= eps
}

/// Fraction of runs whose final test error is ≤ ε against `x`, one curve per `group`, one panel
/// per combination of the other swept parameters.
fn success_rate(config: &Config, runs: &[RunData]) -> Vec<Panel> {
    let plot = &config.spec.plot;
    let x = plot.x.unwrap_or(Parameter::P);
    let eps = plot.target_error.unwrap_or(1e-3);
    let all: Vec<&RunData> = runs.iter().collect();
    facets(config, &all, &[Some(x), plot.group])
        .into_iter()
        .map(|(facet, rs)| {
            let per_point = labelled_groups(&rs, plot.group)
                .iter()
                .flat_map(|(_, gr)| group_by(gr, x.col()).into_iter().map(|(_, _, at)| at.len()))
                .collect::<std::collections::BTreeSet<_>>();
            let counts = per_point
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join("–");
            let mut panel = Panel {
                title: format!(
                    "{facet}{}fraction of {counts} runs per point with final test error ≤ {eps:e}",
                    if facet.is_empty() { "" } else { ": " }
                ),
                x: parameter_axis(x),
                y: Axis {
                    label: format!(
                        "fraction with test error ≤ {eps:e} after T = {}",
                        config.spec.gd.iterations
                    ),
                    log: false,
                    range: Some((0.0, 1.05)),
                },
                ..Panel::default()
            };
            for (i, (label, gr)) in labelled_groups(&rs, plot.group).iter().enumerate() {
                let points = group_by(gr, x.col())
                    .into_iter()
                    .map(|(_, xv, at)| {
                        let ok = at.iter().filter(|r| reaches(r, eps)).count();
                        (xv, ok as f64 / at.len() as f64)
                    })
                    .collect();
                let name = if label.is_empty() {
                    "fraction".to_string()
                } else {
                    label.clone()
                };
                panel.series.push(Series::new(
                    Some(name),
                    color(i),
                    Style::LineMarkers(2),
                    points,
                ));
            }
            panel
        })
        .collect()
}

fn completed(runs: &[RunData]) -> Vec<&RunData> {
    runs.iter()
        .filter(|r| r.text(col::STATUS) == "completed")
        .collect()
}

/// Runs grouped by the value of `column`, sorted by its numeric value (text order otherwise).
fn group_by<'a>(runs: &[&'a RunData], column: Column) -> Vec<(String, f64, Vec<&'a RunData>)> {
    let mut groups: Vec<(String, f64, Vec<&RunData>)> = Vec::new();
    for &r in runs {
        let key = r.text(column).to_string();
        match groups.iter_mut().find(|g| g.0 == key) {
            Some(g) => g.2.push(r),
            None => groups.push((key, r.num(column), vec![r])),
        }
    }
    groups.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    groups
}

/// The label of `r`'s value of `param`: [`value_label`], but an algorithm with its parameter,
/// "ScaledGD(λ=1e-3)", "PrecGD(c=1)" (a group of one algorithm has one λ or c: a swept λ or c
/// that is not drawn is refused as pooled).
fn group_label(param: Parameter, r: &RunData) -> String {
    let value = r.text(param.col());
    match (param, value) {
        (Parameter::Algorithm, "scaled_gd") => {
            format!("ScaledGD(λ={})", short_number(r.text(col::LAMBDA)))
        }
        (Parameter::Algorithm, "precgd") => format!("PrecGD(c={})", short_number(r.text(col::C))),
        _ => value_label(param, value),
    }
}

/// A number as labels show it: "1", "3000", "1e-3" (CSV text that is not a number as it is).
fn short_number(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(v) if v.fract() == 0.0 && v.abs() < 1e6 => format!("{v:.0}"),
        Ok(v) => format!("{v:e}"),
        Err(_) => text.to_string(),
    }
}

/// "α=1e-6", "r'=10", "m=3000", "spectral".
fn value_label(param: Parameter, value: &str) -> String {
    match param {
        Parameter::Init => value.replace('_', " ") + " init",
        Parameter::Algorithm => algorithm_name(value).to_string(),
        Parameter::Sampling => format!("{} sampling", value.replace('_', " ")),
        _ => format!("{}={}", param.symbol(), short_number(value)),
    }
}

/// "GD", "ScaledGD(λ)", "PrecGD" for the algorithm column's values.
fn algorithm_name(label: &str) -> &str {
    match label {
        "gd" => "GD",
        "scaled_gd" => "ScaledGD(λ)",
        "precgd" => "PrecGD",
        other => other,
    }
}

/// Median over runs of quantity `q` at each logged t (runs may have different lengths).
fn median_trajectory(runs: &[&RunData], q: &(impl Named + ?Sized)) -> Vec<(f64, f64)> {
    let longest = runs
        .iter()
        .max_by_key(|r| r.t.len())
        .map_or(&[][..], |r| &r.t[..]);
    longest
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let vals: Vec<f64> = runs
                .iter()
                .filter_map(|r| {
                    (r.t.get(i) == Some(&t))
                        .then(|| r.get(q).get(i).copied())
                        .flatten()
                })
                .collect();
            (t as f64, median(&vals))
        })
        .collect()
}

fn trajectory_points(run: &RunData, q: &(impl Named + ?Sized)) -> Vec<(f64, f64)> {
    run.t
        .iter()
        .map(|&t| t as f64)
        .zip(run.get(q).iter().copied())
        .collect()
}

/// The colour of curve i: the palette, then (so that no two curves of a figure share one) hues a
/// golden angle apart at three lightnesses.
fn color(i: usize) -> RGBColor {
    match PALETTE.get(i) {
        Some(&c) => c,
        None => {
            let hue = (i as f64 * 137.507_764).rem_euclid(360.0);
            hsl_to_rgb(hue, 0.75, [0.35, 0.5, 0.65][i % 3])
        }
    }
}

/// The RGB colour of hue h (degrees), saturation s and lightness l (0–1).
fn hsl_to_rgb(h: f64, s: f64, l: f64) -> RGBColor {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let x = c * (1.0 - ((h / 60.0).rem_euclid(2.0) - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    RGBColor(byte(r), byte(g), byte(b))
}

fn t_axis(config: &Config, runs: &[RunData]) -> Axis {
    let t_max = runs
        .iter()
        .filter_map(|r| r.t.last())
        .max()
        .copied()
        .unwrap_or(1);
    let t_max = config.spec.plot.max_t.unwrap_or(t_max).min(t_max).max(1);
    Axis {
        label: "iteration t".into(),
        log: false,
        range: Some((0.0, t_max as f64)),
    }
}

fn median_column(runs: &[&RunData], column: Column) -> f64 {
    median(&runs.iter().map(|r| r.num(column)).collect::<Vec<_>>())
}

fn trajectories(config: &Config, runs: &[RunData]) -> Panel {
    let all: Vec<&RunData> = runs.iter().collect();
    let x = t_axis(config, runs);
    let t_end = x.range.map_or(1.0, |r| r.1);
    let mut panel = Panel {
        title: if runs.len() > 1 {
            format!("median over {} runs (thin: each run)", runs.len())
        } else {
            String::new()
        },
        x,
        y: Axis::log("value (log scale)"),
        ..Panel::default()
    };
    if config.spec.plot.phases {
        let t_star = median_column(&all, col::T_STAR);
        let t_1 = median_column(&all, col::T_1);
        panel.shades = phase_shades(t_star, t_1, t_end);
    }
    for (i, q) in config.spec.plot.quantities.iter().enumerate() {
        if runs.len() > 1 {
            for r in runs {
                let mut s = Series::new(None, color(i), Style::Line(1), trajectory_points(r, q));
                s.opacity = 0.3;
                panel.series.push(s);
            }
        }
        panel.series.push(Series::new(
            Some(quantity_label(q)),
            color(i),
            Style::Line(2),
            median_trajectory(&all, q),
        ));
    }
    panel
}

/// The shaded phases of a trajectories panel from the (median) detected t_* and t_1: phase I up
/// to t_*, phase II from t_* to t_1, phase III from t_1 on. Where t_* ≥ t_1 (large α, spectral
/// initialization: the detector's end of phase I comes after t_1), there is no phase II: phase I
/// is shaded up to t_1 (if t_1 > 0) and phase III's legend says where t_* lies, so no two shades
/// overlap.
fn phase_shades(t_star: f64, t_1: f64, t_end: f64) -> Vec<Shade> {
    let shade = |from: f64, to: f64, color: RGBColor, label: String| Shade {
        from,
        to,
        color,
        label,
    };
    let phase_1 = RGBColor(70, 90, 230);
    let mut shades = Vec::new();
    let out_of_order = t_star.is_finite() && t_1.is_finite() && t_star >= t_1;
    if out_of_order {
        if t_1 > 0.0 {
            shades.push(shade(
                0.0,
                t_1,
                phase_1,
                format!("phase I: t ≤ t_1 = {t_1:.0}"),
            ));
        }
    } else {
        if t_star.is_finite() {
            shades.push(shade(
                0.0,
                t_star,
                phase_1,
                format!("phase I, spectral alignment: t ≤ t_* = {t_star:.0}"),
            ));
        }
        if t_1.is_finite() {
            let from = if t_star.is_finite() { t_star } else { 0.0 };
            shades.push(shade(
                from,
                t_1,
                RGBColor(240, 150, 0),
                format!("phase II, saddle escape: t ≤ t_1 = {t_1:.0}"),
            ));
        }
    }
    if t_1.is_finite() {
        shades.push(shade(
            t_1,
            t_end,
            RGBColor(0, 160, 80),
            if out_of_order {
                format!("phase III from t_1; no phase II: t_* = {t_star:.0} ≥ t_1")
            } else {
                "phase III, local refinement".into()
            },
        ));
    }
    shades
}

fn parameter_axis(p: Parameter) -> Axis {
    let label = match p {
        Parameter::Alpha => "α, initialization scale (log)",
        Parameter::RPrime => "r', width of U (log)",
        Parameter::M => "m, number of measurements (log)",
        Parameter::Kappa => "κ, condition number of X (log)",
        Parameter::StepSize => "μ, step size (log)",
        Parameter::Init => "initialization",
        Parameter::Algorithm => "algorithm",
        Parameter::Sigma => "σ, noise level (log)",
        Parameter::P => "p, sampling probability (log)",
        Parameter::Sampling => "sampling",
    };
    Axis::log(label)
}

/// Per x value: (x, median, min, max) of `column` over the runs.
fn summarize(runs: &[&RunData], x: Parameter, column: Column) -> Vec<(f64, f64, f64, f64)> {
    group_by(runs, x.col())
        .into_iter()
        .map(|(_, xv, rs)| {
            let v: Vec<f64> = rs
                .iter()
                .map(|r| r.num(column))
                .filter(|v| v.is_finite())
                .collect();
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            (xv, median(&v), lo, hi)
        })
        .collect()
}

/// Per value of `x` (in [`summarize`]'s order): true if every run there settled (runs.csv
/// `end_state`), i.e. its final error can be read as a floor. A runs.csv written before the column
/// existed says nothing: its points count as settled, as they were drawn then.
fn settled_at(runs: &[&RunData], x: Parameter) -> Vec<bool> {
    group_by(runs, x.col())
        .iter()
        .map(|(_, _, at)| {
            at.iter().all(|r| {
                !r.fields.contains_key(col::END_STATE.0) || is_settled(r.text(col::END_STATE))
            })
        })
        .collect()
}

/// A final-error curve: line and filled markers through every point (with the legend entry), and
/// hollow markers drawn over the points whose runs had not settled.
fn push_floor_series(
    panel: &mut Panel,
    label: String,
    c: RGBColor,
    points: &[(f64, f64)],
    settled: &[bool],
) {
    let unsettled: Vec<(f64, f64)> = points
        .iter()
        .zip(settled)
        .filter(|(_, ok)| !**ok)
        .map(|(p, _)| *p)
        .collect();
    panel.series.push(Series::new(
        Some(label),
        c,
        Style::LineMarkers(2),
        points.to_vec(),
    ));
    panel
        .series
        .push(Series::new(None, c, Style::HollowMarkers(4), unsettled));
}

/// Says in the panel's title how many of its points are unsettled, and adds the legend entry for
/// hollow markers.
fn note_unsettled(panel: &mut Panel, unsettled: usize, all: usize, consequence: &str) {
    if unsettled == 0 {
        return;
    }
    panel.title += &format!("; {unsettled} of {all} points unsettled (hollow){consequence}");
    panel.series.push(Series::new(
        Some("hollow: not a floor (a run had not settled by the end of its budget)".into()),
        RGBColor(90, 90, 90),
        Style::HollowMarkers(4),
        vec![],
    ));
}

fn error_vs_parameter(config: &Config, runs: &[RunData]) -> Panel {
    let plot = &config.spec.plot;
    let x = plot.x.unwrap_or(Parameter::Alpha);
    let ok = completed(runs);
    let groups: Vec<(String, f64, Vec<&RunData>)> = match plot.group {
        Some(g) => group_by(&ok, g.col())
            .into_iter()
            .map(|(_, v, rs)| (group_label(g, rs[0]), v, rs))
            .collect(),
        None => vec![(String::new(), 0.0, ok.clone())],
    };
    let replicates = ok
        .iter()
        .map(|r| r.text(col::REPLICATE))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let fit_note = plot.fit_max_x.map_or(String::new(), |x| {
        format!("; slopes fitted over {} ≤ {x:e}", x_symbol(plot.x))
    });
    let left_out = match runs.len() - ok.len() {
        0 => String::new(),
        d => format!(
            "; {d} of {} runs diverged or stopped and are left out",
            runs.len()
        ),
    };
    let mut panel = Panel {
        title: format!(
            "median over {replicates} replicates, band: min–max of the final error{fit_note}{left_out}"
        ),
        x: parameter_axis(x),
        y: Axis::log("test error ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F (log)"),
        ..Panel::default()
    };
    let mut anchors = Vec::new();
    let mut unsettled_points = 0;
    let mut all_points = 0;
    for (i, (label, _, rs)) in groups.iter().enumerate() {
        let fin = summarize(rs, x, col::FINAL_TEST_ERROR);
        let min = summarize(rs, x, col::MIN_TEST_ERROR);
        // A median is a floor only if every run behind it settled (runs.csv: end_state).
        let settled = settled_at(rs, x);
        all_points += fin.len();
        unsettled_points += settled.iter().filter(|s| !**s).count();
        let fit_max = plot.fit_max_x.unwrap_or(f64::INFINITY);
        let fitted = |v: &[(f64, f64, f64, f64)]| -> (Vec<f64>, Vec<f64>) {
            v.iter()
                .zip(&settled)
                .filter(|(p, ok)| p.0 <= fit_max && **ok)
                .map(|(p, _)| (p.0, p.1))
                .unzip()
        };
        let (xs, med) = fitted(&fin);
        let slope = power_law_fit(&xs, &med).map_or("n/a".into(), |f| format!("{:.2}", f.slope));
        let (mxs, mys) = fitted(&min);
        let min_slope =
            power_law_fit(&mxs, &mys).map_or("n/a".into(), |f| format!("{:.2}", f.slope));
        let prefix = if label.is_empty() {
            String::new()
        } else {
            format!("{label}: ")
        };
        panel.bands.push(Band {
            color: color(i),
            points: fin.iter().map(|p| (p.0, p.2, p.3)).collect(),
        });
        push_floor_series(
            &mut panel,
            format!("{prefix}final error, fitted slope {slope}"),
            color(i),
            &fin.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
            &settled,
        );
        panel.series.push(Series::new(
            Some(format!(
                "{prefix}minimum over the trajectory, fitted slope {min_slope}"
            )),
            color(i),
            Style::Dashed(1),
            min.iter().map(|p| (p.0, p.1)).collect(),
        ));
        anchors.extend(fin.iter().map(|p| (p.0, p.1)));
    }
    if let Some(p) = plot.reference_exponent {
        // Through the median point of the data (in log coordinates), so that its slope is comparable.
        let lx: Vec<f64> = anchors
            .iter()
            .filter(|a| a.0 > 0.0 && a.1 > 0.0)
            .map(|a| a.0.log10())
            .collect();
        let ly: Vec<f64> = anchors
            .iter()
            .filter(|a| a.0 > 0.0 && a.1 > 0.0)
            .map(|a| a.1.log10())
            .collect();
        let (mx, my) = (median(&lx), median(&ly));
        let (lo, hi) = lx
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if mx.is_finite() && my.is_finite() {
            let line = [lo, hi]
                .iter()
                .map(|&l| (10f64.powf(l), 10f64.powf(my + p * (l - mx))))
                .collect();
            let name = if (p - 21.0 / 16.0).abs() < 1e-12 {
                "21/16, the theorem's exponent".to_string()
            } else {
                format!("{p}")
            };
            panel.series.push(Series::new(
                Some(format!("reference ∝ {}^p, p = {name}", x.symbol())),
                RGBColor(90, 90, 90),
                Style::Dashed(2),
                line,
            ));
        }
    }
    note_unsettled(
        &mut panel,
        unsettled_points,
        all_points,
        "; left out of the fits",
    );
    panel
}

fn x_symbol(x: Option<Parameter>) -> &'static str {
    x.unwrap_or(Parameter::Alpha).symbol()
}

fn overparameterization(runs: &[RunData]) -> Vec<Panel> {
    let ok = completed(runs);
    let groups = group_by(&ok, col::R_PRIME);
    let mut traj = Panel {
        title: "test error (median over replicates)".into(),
        x: Axis::linear("iteration t"),
        y: Axis::log("test error (log)"),
        ..Panel::default()
    };
    for (i, (k, _, rs)) in groups.iter().enumerate() {
        traj.series.push(Series::new(
            Some(value_label(Parameter::RPrime, k)),
            color(i),
            Style::Line(2),
            median_trajectory(rs, &TEST_ERROR),
        ));
    }
    let mut lengths = Panel {
        title: "phase lengths (median, band: min–max)".into(),
        x: parameter_axis(Parameter::RPrime),
        y: Axis::linear("iteration"),
        ..Panel::default()
    };
    for (j, (column, name)) in [
        (col::T_STAR, "t_*: end of phase I"),
        (col::T_1, "t_1: end of phase II"),
    ]
    .iter()
    .enumerate()
    {
        let s = summarize(&ok, Parameter::RPrime, *column);
        let c = PALETTE[7 + j.min(2)];
        let c = if j == 0 { RGBColor(70, 90, 230) } else { c };
        lengths.bands.push(Band {
            color: c,
            points: s.iter().map(|p| (p.0, p.2, p.3)).collect(),
        });
        lengths.series.push(Series::new(
            Some((*name).to_string()),
            c,
            Style::LineMarkers(2),
            s.iter().map(|p| (p.0, p.1)).collect(),
        ));
    }
    let mut err = Panel {
        title: "final test error (median, band: min–max)".into(),
        x: parameter_axis(Parameter::RPrime),
        y: Axis::log("test error (log)"),
        ..Panel::default()
    };
    let s = summarize(&ok, Parameter::RPrime, col::FINAL_TEST_ERROR);
    let black = RGBColor(0, 0, 0);
    err.bands.push(Band {
        color: black,
        points: s.iter().map(|p| (p.0, p.2, p.3)).collect(),
    });
    let settled = settled_at(&ok, Parameter::RPrime);
    push_floor_series(
        &mut err,
        "final test error".into(),
        black,
        &s.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(),
        &settled,
    );
    let unsettled = settled.iter().filter(|s| !**s).count();
    note_unsettled(&mut err, unsettled, settled.len(), "");
    vec![traj, lengths, err]
}

fn init_comparison(runs: &[RunData]) -> Vec<Panel> {
    let all: Vec<&RunData> = runs.iter().collect();
    let mut panels: Vec<Panel> = [
        (TRAIN_ERROR.name, "train error ‖A(UUᵀ) − y‖ / ‖y‖ (log)"),
        (TEST_ERROR.name, "test error ‖UUᵀ − XXᵀ‖_F / ‖XXᵀ‖_F (log)"),
    ]
    .iter()
    .map(|(_, label)| Panel {
        title: label.split(" (").next().unwrap_or(label).to_string(),
        x: Axis::linear("iteration t"),
        y: Axis::log(*label),
        ..Panel::default()
    })
    .collect();
    let random: Vec<&RunData> = all
        .iter()
        .copied()
        .filter(|r| r.text(col::INIT) == "small_random")
        .collect();
    let spectral: Vec<&RunData> = all
        .iter()
        .copied()
        .filter(|r| r.text(col::INIT) == "spectral")
        .collect();
    let mut curves: Vec<(String, RGBColor, Style, Vec<&RunData>)> = group_by(&random, col::ALPHA)
        .into_iter()
        .enumerate()
        .map(|(i, (k, _, rs))| {
            let diverged = rs.iter().any(|r| r.text(col::STATUS) == "diverged");
            let label = format!(
                "small random init, {}{}",
                value_label(Parameter::Alpha, &k),
                if diverged { " (diverged)" } else { "" }
            );
            (label, color(i), Style::Line(2), rs)
        })
        .collect();
    // Spectral initialization is drawn once, at the smallest α (the scale of its extra columns).
    if let Some((k, _, rs)) = group_by(&spectral, col::ALPHA).into_iter().next() {
        curves.push((
            format!(
                "spectral init (top-r eigenpairs of A*(y), other columns {})",
                value_label(Parameter::Alpha, &k)
            ),
            RGBColor(0, 0, 0),
            Style::Dashed(2),
            rs,
        ));
    }
    for (label, c, style, rs) in curves {
        for (panel, q) in panels.iter_mut().zip([TRAIN_ERROR.name, TEST_ERROR.name]) {
            panel.series.push(Series::new(
                Some(label.clone()),
                c,
                style,
                median_trajectory(&rs, q),
            ));
        }
    }
    panels
}

fn phase_lengths(runs: &[RunData]) -> Panel {
    let ok = completed(runs);
    let mut panel = Panel {
        title: "each marker: one run; lines: least-squares fits".into(),
        x: Axis::linear("ln(1/α)"),
        y: Axis::linear("iteration"),
        ..Panel::default()
    };
    let ln_inv = |r: &RunData| (1.0 / r.num(col::ALPHA)).ln();
    let mut t1_fit = None;
    for (i, (column, name)) in [
        (col::T_STAR, "t_* (detected end of phase I)"),
        (col::T_1, "t_1 (end of phase II)"),
        (col::T_HAT, "t_hat (first t within 2× of the final error)"),
    ]
    .iter()
    .enumerate()
    {
        let pts: Vec<(f64, f64)> = ok
            .iter()
            .map(|r| (ln_inv(r), r.num(*column)))
            .filter(|p| p.1.is_finite())
            .collect();
        let (xs, ys): (Vec<f64>, Vec<f64>) = pts.iter().copied().unzip();
        let fit = linear_fit(&xs, &ys);
        let label = fit.map_or(format!("{name}: no fit"), |f| {
            if f.r_squared.is_nan() {
                format!("{name}: flat at {:.1}", f.intercept)
            } else {
                format!("{name}: slope {:.1}, R² = {:.3}", f.slope, f.r_squared)
            }
        });
        let mut m = Series::new(None, color(i), Style::Markers(3), pts);
        m.opacity = 0.7;
        panel.series.push(m);
        if let Some(f) = fit {
            let (lo, hi) = xs
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            panel.series.push(Series::new(
                Some(label),
                color(i),
                Style::Line(2),
                vec![
                    (lo, f.intercept + f.slope * lo),
                    (hi, f.intercept + f.slope * hi),
                ],
            ));
            if *column == col::T_1 {
                t1_fit = Some((lo, hi, f, median(&xs)));
            }
        }
    }
    // The theory's time scale 1/(μ σ_min(X)²), drawn through the middle of the t_1 fit.
    let scale = median(
        &ok.iter()
            .map(|r| 1.0 / (r.num(col::STEP_SIZE) * r.num(col::SIGMA_MIN_X).powi(2)))
            .collect::<Vec<_>>(),
    );
    if let (Some((lo, hi, f, mx)), true) = (t1_fit, scale.is_finite()) {
        let my = f.intercept + f.slope * mx;
        panel.series.push(Series::new(
            Some(format!(
                "slope 1/(μσ_min(X)²) = {scale:.1}, the theory's scale"
            )),
            RGBColor(90, 90, 90),
            Style::Dashed(2),
            vec![(lo, my + scale * (lo - mx)), (hi, my + scale * (hi - mx))],
        ));
    }
    panel
}

#[cfg(test)]
mod tests {
    use super::{color, phase_shades};

    /// Up to a few hundred curves, no two get one colour (a legend must tell them apart).
    #[test]
    fn curves_get_distinct_colours() {
        let colours: Vec<(u8, u8, u8)> = (0..300)
            .map(|i| {
                let c = color(i);
                (c.0, c.1, c.2)
            })
            .collect();
        let distinct: std::collections::BTreeSet<_> = colours.iter().collect();
        assert_eq!(distinct.len(), colours.len());
        assert_eq!(color(3), super::PALETTE[3]);
    }

    /// (from, to) of each shade.
    fn spans(t_star: f64, t_1: f64) -> Vec<(f64, f64)> {
        phase_shades(t_star, t_1, 500.0)
            .iter()
            .map(|s| (s.from, s.to))
            .collect()
    }

    #[test]
    fn phases_in_order_are_shaded_one_after_another() {
        assert_eq!(
            spans(104.0, 198.0),
            [(0.0, 104.0), (104.0, 198.0), (198.0, 500.0)]
        );
        assert_eq!(spans(f64::NAN, 198.0), [(0.0, 198.0), (198.0, 500.0)]);
        assert_eq!(spans(104.0, f64::NAN), [(0.0, 104.0)]);
        assert!(spans(f64::NAN, f64::NAN).is_empty());
    }

    #[test]
    fn a_detected_t_star_after_t_1_leaves_no_inverted_or_overlapping_shade() {
        // Before: phase I 0–42, phase II 42–16 (inverted), phase III 16–500 (overlapping phase I).
        let shades = phase_shades(42.0, 16.0, 500.0);
        assert_eq!(spans(42.0, 16.0), [(0.0, 16.0), (16.0, 500.0)]);
        assert!(
            shades[1].label.contains("no phase II: t_* = 42 ≥ t_1"),
            "{}",
            shades[1].label
        );
        // Spectral initialization: t_1 = 0, so phase III from the start, and t_* still named.
        assert_eq!(spans(20.0, 0.0), [(0.0, 500.0)]);
        assert!(phase_shades(20.0, 0.0, 500.0)[0]
            .label
            .contains("t_* = 20 ≥ t_1"));
    }
}
