//! SVG charts drawn with `plotters` (SVG backend only, no font rasterizer: the backend writes
//! `<text>` elements and the viewer renders them; plotters' built-in size estimate places
//! them). Deterministic: the same input gives the same bytes (fixed canvas, fixed tick
//! formatting, no clock or randomness).

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

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
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

/// A line chart, one colour per series with a legend on the right; `markers` draws a dot at
/// each point. The y axis starts at 0; both axes end at a round number.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    markers: bool,
) -> Result<String, String> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x_min = xs.clone().fold(f64::INFINITY, f64::min).min(0.0);
    let x_max = nice_max(xs.fold(0.0, f64::max));
    let y_max = nice_max(ys.fold(0.0, f64::max));
    let tick = |v: &f64| fmt_tick(*v);
    svg(title, |plot, legend| {
        let mut chart = ChartBuilder::on(plot)
            .margin(12)
            .x_label_area_size(46)
            .y_label_area_size(64)
            .build_cartesian_2d(x_min..x_max, 0.0..y_max)
            .map_err(err(title))?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
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
            .map_err(err(title))?;
        for (i, se) in series.iter().enumerate() {
            let c = COLORS[i % COLORS.len()];
            chart
                .draw_series(LineSeries::new(
                    se.points.iter().copied(),
                    c.stroke_width(2),
                ))
                .map_err(err(title))?;
            if markers {
                chart
                    .draw_series(se.points.iter().map(|&p| Circle::new(p, 3, c.filled())))
                    .map_err(err(title))?;
            }
            let (x, y) = legend_label(legend, i, &se.name, title)?;
            legend
                .draw(&PathElement::new(
                    vec![(x, y), (x + 24, y)],
                    c.stroke_width(3),
                ))
                .map_err(err(title))?;
        }
        Ok(())
    })
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
    let y_tick = |v: &f64| {
        let r = v.round();
        if (v - r).abs() < 1e-6 && r >= 0.0 && r < n as f64 {
            format!("{}", n - 1 - r as usize)
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
            .y_labels(n.min(9))
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
        assert!(h.contains("≥ 2.0× mean"));
        assert!(h.contains("partition (0 at top)"));
    }
}
