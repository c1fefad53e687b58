//! SVG charts drawn with `plotters` (SVG backend only, no font rasterizer: the backend writes
//! `<text>` elements and the viewer renders them; plotters' built-in size estimate places
//! them). Deterministic: the same input gives the same bytes (fixed canvas, fixed tick
//! formatting, no clock or randomness).

use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const W: u32 = 800;
const H: u32 = 450;
/// Width of the legend column right of the plot.
const LEGEND_W: u32 = 210;
const FONT: &str = "sans-serif";
// plotters writes an SVG font size of size / 1.24: these give 14 px and 12 px.
const TITLE_SIZE: f64 = 14.0 * 1.24;
const LABEL_SIZE: f64 = 12.0 * 1.24;
const COLORS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];
const GRID: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);
const INK: RGBColor = RGBColor(0x33, 0x33, 0x33);

/// One named series of (x, y) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// The smallest of 1, 2, 2.5, 5 × a power of ten that is ≥ `v` (1 for `v` ≤ 0 or not finite).
fn nice_max(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

/// A tick label: at most three decimals, trailing zeros dropped (0.75, 2.5, 80, 1500).
fn fmt_tick(v: f64) -> String {
    if v.abs() >= 1000.0 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.into()
    }
}

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> String + '_ {
    move |e| format!("plot {what}: {e}")
}

/// Draws into an SVG string: `body` gets the titled canvas split into the plot area and
/// the legend column.
fn svg(
    title: &str,
    body: impl FnOnce(
        &DrawingArea<SVGBackend, Shift>,
        &DrawingArea<SVGBackend, Shift>,
    ) -> Result<(), String>,
) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(err(title))?;
        let area = root
            .titled(title, (FONT, TITLE_SIZE).into_font().color(&BLACK))
            .map_err(err(title))?;
        let (plot, legend) = area.split_horizontally(W - LEGEND_W);
        body(&plot, &legend)?;
        root.present().map_err(err(title))?;
    }
    Ok(out)
}

/// One legend row: a swatch drawn by `swatch` at (x, y) and a label right of it.
fn legend_label(
    legend: &DrawingArea<SVGBackend, Shift>,
    row: usize,
    text: &str,
    what: &str,
) -> Result<(i32, i32), String> {
    let y = 20 + 22 * row as i32;
    legend
        .draw(&Text::new(
            text.to_string(),
            (40, y),
            (FONT, LABEL_SIZE)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(err(what))?;
    Ok((8, y))
}

/// The y axis of a line chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum YAxis {
    /// From 0 to a round number.
    Linear,
    /// Logarithmic, from a power of ten at or below the smallest positive y to a round
    /// number; points at or below 0 are drawn at the bottom.
    Log,
}

/// A line chart, one colour per series with a legend on the right; `markers` draws a dot at
/// each point. The x axis spans the points (from 0 at most); the y axis runs from 0 to a
/// round number.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: bool,
) -> Result<String, String> {
    line_chart_y(title, x_label, y_label, series, markers, YAxis::Linear)
}

/// [`line_chart`] with a choice of y axis.
pub fn line_chart_y(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: bool,
    y_axis: YAxis,
) -> Result<String, String> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    // x from 0 (or below) to the last point.
    let x_min = xs.clone().fold(f64::INFINITY, f64::min).min(0.0);
    let x_max = xs.fold(f64::NEG_INFINITY, f64::max);
    let x_max = if x_max.is_finite() && x_max > x_min {
        x_max
    } else {
        x_min + 1.0
    };
    let y_max = nice_max(ys.clone().fold(0.0, f64::max));
    let lines = Lines {
        x_label,
        y_label,
        series,
        markers,
        what: title,
    };
    svg(title, |plot, legend| {
        let mut b = ChartBuilder::on(plot);
        b.margin(12).x_label_area_size(46).y_label_area_size(64);
        match y_axis {
            YAxis::Linear => {
                let chart = b
                    .build_cartesian_2d(x_min..x_max, 0.0..y_max)
                    .map_err(err(title))?;
                lines.draw(chart, 0.0)?;
            }
            YAxis::Log => {
                let lo = ys
                    .filter(|y| *y > 0.0 && y.is_finite())
                    .fold(f64::INFINITY, f64::min);
                let lo = if lo.is_finite() {
                    10f64.powf(lo.log10().floor())
                } else {
                    1.0
                };
                let hi = if y_max > lo { y_max } else { lo * 10.0 };
                let chart = b
                    .build_cartesian_2d(x_min..x_max, (lo..hi).log_scale())
                    .map_err(err(title))?;
                lines.draw(chart, lo)?;
            }
        }
        lines.legend(legend)
    })
}

/// The series of a line chart and its axis titles.
struct Lines<'s> {
    x_label: &'s str,
    y_label: &'s str,
    series: &'s [Series],
    markers: bool,
    what: &'s str,
}

impl Lines<'_> {
    /// Draws the mesh and the series; y values below `floor` are drawn at `floor`.
    fn draw<'a, Y>(
        &self,
        mut chart: ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
        floor: f64,
    ) -> Result<(), String>
    where
        Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
    {
        let what = self.what;
        let tick = |v: &f64| fmt_tick(*v);
        chart
            .configure_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .bold_line_style(GRID)
            .light_line_style(WHITE)
            .axis_style(INK)
            .draw()
            .map_err(err(what))?;
        for (i, se) in self.series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let points = se.points.iter().map(|&(x, y)| (x, y.max(floor)));
            chart
                .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                .map_err(err(what))?;
            if self.markers {
                chart
                    .draw_series(points.map(|p| Circle::new(p, 3, c.filled())))
                    .map_err(err(what))?;
            }
        }
        Ok(())
    }

    /// One row per series: a line of its colour and its name.
    fn legend(&self, legend: &DrawingArea<SVGBackend, Shift>) -> Result<(), String> {
        for (i, se) in self.series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            let (x, y) = legend_label(legend, i, &se.name, self.what)?;
            legend
                .draw(&PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    c.stroke_width(3),
                ))
                .map_err(err(self.what))?;
        }
        Ok(())
    }
}

/// Heat-map colour: white at 0 to dark red at `max` or more.
fn heat_colour(v: f64, max: f64) -> RGBColor {
    let f = (v / max.max(1e-12)).clamp(0.0, 1.0);
    let g = (255.0 * (1.0 - f)).round() as u8;
    let r = (255.0 - 115.0 * f.powi(2)).round() as u8;
    RGBColor(r, g, g)
}

/// A heat map: one column per time step of `step` x units, one row per partition (row 0 at
/// the top), colour from white (0) to dark red (`max` or more), with a colour key on the
/// right. `cols[t][p]` is the value of partition `p` at step `t`; every step must have the
/// same number of partitions.
pub fn heatmap(
    title: &str,
    x_label: &str,
    step: f64,
    cols: &[Vec<f64>],
    max: f64,
) -> Result<String, String> {
    let n = cols.first().map_or(0, |c| c.len()).max(1);
    let t = cols.len().max(1);
    let x_max = step * t as f64;
    // Partition p is centred on y = n - 1 - p, so integer ticks fall on row centres.
    let y_of = |p: usize| (n - 1 - p) as f64;
    let x_tick = |v: &f64| fmt_tick(*v);
    // Label every partition up to 16 rows, else every `stride`-th from partition 0.
    let stride = n.div_ceil(16);
    let y_tick = |v: &f64| {
        let r = v.round();
        let p = n as f64 - 1.0 - r;
        if (v - r).abs() < 1e-6 && p >= 0.0 && r >= 0.0 && (p as usize).is_multiple_of(stride) {
            format!("{}", p as usize)
        } else {
            String::new()
        }
    };
    svg(title, |plot, legend| {
        let mut chart = ChartBuilder::on(plot)
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max, -0.5..n as f64 - 0.5)
            .map_err(err(title))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(x_label)
            .y_desc("partition (0 at top)")
            .x_labels(6)
            .y_labels(n)
            .x_label_formatter(&x_tick)
            .y_label_formatter(&y_tick)
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE))
            .axis_style(INK)
            .draw()
            .map_err(err(title))?;
        chart
            .draw_series(cols.iter().enumerate().flat_map(|(ti, col)| {
                col.iter().enumerate().map(move |(pi, &v)| {
                    let x0 = step * ti as f64;
                    let y = y_of(pi);
                    Rectangle::new(
                        [(x0, y - 0.5), (x0 + step, y + 0.5)],
                        heat_colour(v, max).filled(),
                    )
                })
            }))
            .map_err(err(title))?;
        for i in 0..=4 {
            let v = max * i as f64 / 4.0;
            let text = format!("{}{}× mean", if i == 4 { "≥ " } else { "" }, fmt_tick(v));
            let (x, y) = legend_label(legend, i, &text, title)?;
            legend
                .draw(&Rectangle::new(
                    [(x, y - 9), (x + 24, y + 9)],
                    heat_colour(v, max).filled(),
                ))
                .map_err(err(title))?;
            legend
                .draw(&Rectangle::new([(x, y - 9), (x + 24, y + 9)], INK))
                .map_err(err(title))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_is_well_formed_and_deterministic() {
        let s = vec![Series {
            name: "a<b".into(),
            points: vec![(0.0, 0.0), (10.0, 0.5)],
        }];
        let a = line_chart("t", "x", "y", &s, true).expect("chart");
        assert_eq!(a, line_chart("t", "x", "y", &s, true).expect("chart"));
        assert!(a.starts_with("<svg") && a.ends_with("</svg>\n"), "{a}");
        assert!(a.contains("a&lt;b"), "legend text is escaped");
        assert!(a.contains("<polyline"), "series drawn as a polyline");
        // Markers: one circle per point.
        assert_eq!(a.matches("<circle").count(), 2);
        let b = line_chart("t", "x", "y", &s, false).expect("chart");
        assert_eq!(b.matches("<circle").count(), 0);
        assert_eq!(nice_max(0.37), 0.5);
        assert_eq!(nice_max(1200.0), 2000.0);
        assert_eq!(nice_max(0.0), 1.0);
        let ticks: Vec<String> = [0.0, 0.75, 2.5, 80.0, 0.001, 1500.0, -2.0]
            .iter()
            .map(|&v| fmt_tick(v))
            .collect();
        assert_eq!(ticks, ["0", "0.75", "2.5", "80", "0.001", "1500", "-2"]);
    }

    #[test]
    fn log_axis_spans_the_positive_values() {
        let s = vec![Series {
            name: "lat".into(),
            points: vec![(0.0, 0.0), (1.0, 35.0), (2.0, 4200.0)],
        }];
        let a = line_chart_y("t", "x", "y", &s, false, YAxis::Log).expect("chart");
        assert_eq!(
            a,
            line_chart_y("t", "x", "y", &s, false, YAxis::Log).expect("chart")
        );
        // y ticks (right-aligned labels) from 10, the power of ten below 35, up to 5000,
        // nice_max of 4200.
        let y_ticks: Vec<&str> = a
            .split("<text ")
            .filter(|t| t.contains("text-anchor=\"end\""))
            .filter_map(|t| t.split('\n').nth(1))
            .collect();
        assert_eq!(y_ticks.first(), Some(&"10"), "{y_ticks:?}");
        assert!(
            y_ticks.contains(&"100") && y_ticks.contains(&"1000"),
            "{y_ticks:?}"
        );
    }

    #[test]
    fn heatmap_has_one_cell_per_value_and_the_colour_key() {
        let cols = [vec![0.0, 1.0], vec![2.0, 0.5], vec![3.0, 0.0]];
        let h = heatmap("h", "t", 10.0, &cols, 2.0).expect("heat map");
        assert_eq!(h, heatmap("h", "t", 10.0, &cols, 2.0).expect("heat map"));
        // White for 0, dark red at and above max.
        assert_eq!(heat_colour(0.0, 2.0), RGBColor(255, 255, 255));
        assert_eq!(heat_colour(2.0, 2.0), RGBColor(140, 0, 0));
        assert_eq!(heat_colour(9.0, 2.0), RGBColor(140, 0, 0));
        let dark = h.matches("fill=\"#8C0000\"").count();
        // Two cells at ≥ max, and the top swatch of the key.
        assert_eq!(dark, 3, "{h}");
        assert!(h.contains("≥ 2× mean") && h.contains("1.5× mean"), "{h}");
        assert!(h.contains("partition (0 at top)"));
    }
}
