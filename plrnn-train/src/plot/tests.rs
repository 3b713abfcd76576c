use super::*;
use crate::simulate::{simulate, SimOptions, System};

fn lorenz(seed: u64, steps: usize) -> TimeSeries {
    let opts = SimOptions {
        steps,
        seed,
        ..SimOptions::default()
    };
    simulate(&System::lorenz63(), &opts).unwrap()
}

fn decode(png: &[u8]) -> image::RgbImage {
    image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8()
}

/// Counts, inside `rect`, pixels that are bluish (the true curve) and orangeish (generated).
fn colour_counts(img: &image::RgbImage, rect: (u32, u32, u32, u32)) -> (usize, usize) {
    let (x0, y0, x1, y1) = rect;
    let (mut blue, mut orange) = (0, 0);
    for y in y0..y1 {
        for x in x0..x1 {
            let [r, g, b] = img.get_pixel(x, y).0;
            let (r, g, b) = (r as i32, g as i32, b as i32);
            if b > r + 40 && b > g {
                blue += 1;
            }
            if r > b + 80 && r > g {
                orange += 1;
            }
        }
    }
    (blue, orange)
}

#[test]
fn png_has_the_size_and_both_curves_in_every_panel() {
    let t = lorenz(1, 5000);
    let g = lorenz(2, 5000);
    let opts = PlotOptions {
        title: Some("Lorenz-63: true vs generated".into()),
        ..PlotOptions::default()
    };
    let png = render_png(Some(&t), &g, &opts).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let img = decode(&png);
    assert_eq!(img.dimensions(), (1200, 900));
    let panels = layout(3, &opts);
    assert_eq!(panels.len(), 6, "3 projections + 3 time series");
    for p in &panels {
        let (blue, orange) = colour_counts(&img, p.rect);
        assert!(
            blue > 200 && orange > 200,
            "{p:?}: {blue} blue, {orange} orange"
        );
    }
}

#[test]
fn without_true_data_only_generated_colour() {
    let g = lorenz(2, 2000);
    let opts = PlotOptions::default();
    let img = decode(&render_png(None, &g, &opts).unwrap());
    for p in layout(3, &opts) {
        let (blue, orange) = colour_counts(&img, p.rect);
        assert!(orange > 200, "{p:?}");
        assert!(blue < 20, "{p:?}: {blue} blue pixels without true data");
    }
}

#[test]
fn two_and_one_dimensional_layouts() {
    let two = TimeSeries::new(
        (0..2000)
            .flat_map(|k| {
                let t = k as f64 * 0.01;
                [t.cos(), t.sin()]
            })
            .collect(),
        2,
    )
    .unwrap();
    let opts = PlotOptions {
        width: 600,
        height: 500,
        ..PlotOptions::default()
    };
    let panels = layout(2, &opts);
    assert_eq!(panels[0].kind, PanelKind::Projection(0, 1));
    assert_eq!(panels.len(), 3);
    let img = decode(&render_png(Some(&two), &two, &opts).unwrap());
    assert_eq!(img.dimensions(), (600, 500));
    for p in &panels {
        let (_, orange) = colour_counts(&img, p.rect);
        assert!(orange > 50, "{p:?}");
    }
    let one = TimeSeries::new((0..300).map(|k| (k as f64 * 0.1).sin()).collect(), 1).unwrap();
    let panels = layout(1, &opts);
    assert_eq!(panels.len(), 2);
    assert_eq!(panels[0].kind, PanelKind::Delay(0));
    assert_eq!(panels[1].kind, PanelKind::Time(0));
    let img = decode(&render_png(None, &one, &opts).unwrap());
    for p in &panels {
        assert!(colour_counts(&img, p.rect).1 > 50, "{p:?}");
    }
}

/// A window far into a long 1-D series: the time panel draws only that window (a series that is
/// zero outside it leaves the orange curve off the zero line), the delay plot draws the same
/// window, and a window past the end is an empty panel, not a panic.
#[test]
fn window_and_seconds_axis() {
    let n = 60_000;
    let v: Vec<f64> = (0..n)
        .map(|k| {
            if (50_000..52_000).contains(&k) {
                (k as f64 * 0.05).sin()
            } else {
                0.0
            }
        })
        .collect();
    let one = TimeSeries::new(v, 1).unwrap();
    let base = PlotOptions {
        width: 600,
        height: 400,
        text: false,
        ..PlotOptions::default()
    };
    let windowed = PlotOptions {
        start: 50_000,
        time_steps: 2000,
        projection_steps: 2000,
        dt: Some(0.001),
        delay: Some(30),
        ..base.clone()
    };
    let panels = layout(1, &windowed);
    let img = decode(&render_png(None, &one, &windowed).unwrap());
    let (x0, y0, x1, y1) = panels[1].rect;
    // Orange pixels spread over the panel's height (a sine), not one flat line.
    let rows_with_orange = (y0..y1)
        .filter(|&y| {
            (x0..x1).any(|x| {
                let p = img.get_pixel(x, y).0;
                p[0] > 200 && p[1] > 100 && p[1] < 200 && p[2] < 120
            })
        })
        .count();
    assert!(rows_with_orange > 100, "{rows_with_orange}");
    // The first 1000 steps (the old fixed view) are all zero: a flat line.
    let img0 = decode(&render_png(None, &one, &base).unwrap());
    let rows0 = (y0..y1)
        .filter(|&y| {
            (x0..x1).any(|x| {
                let p = img0.get_pixel(x, y).0;
                p[0] > 200 && p[1] > 100 && p[1] < 200 && p[2] < 120
            })
        })
        .count();
    assert!(rows0 < 10, "{rows0}");
    let past = PlotOptions {
        start: n + 5,
        ..windowed
    };
    assert!(render_png(None, &one, &past).is_ok());
}

#[test]
fn without_text_frames_and_curves_remain() {
    let g = lorenz(3, 1000);
    let opts = PlotOptions {
        text: false,
        width: 400,
        height: 300,
        ..PlotOptions::default()
    };
    let img = decode(&render_png(Some(&g), &g, &opts).unwrap());
    for p in layout(3, &opts) {
        let (x0, y0, x1, y1) = p.rect;
        let dark = (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0.iter().all(|&c| c < 60))
            .count();
        assert!(dark > 100, "{p:?}: a black frame is drawn");
    }
}

#[test]
fn diverged_and_degenerate_data_do_not_panic() {
    let mut g = lorenz(4, 500);
    for (k, v) in g.as_mut_slice().iter_mut().enumerate() {
        match k % 97 {
            0 => *v = f64::NAN,
            1 => *v = f64::INFINITY,
            2 => *v = 1e300,
            _ => {}
        }
    }
    let opts = PlotOptions::default();
    assert!(render_png(None, &g, &opts).is_ok());
    let constant = TimeSeries::new(vec![5.0; 30], 3).unwrap();
    assert!(render_png(Some(&constant), &constant, &opts).is_ok());
    let all_nan = TimeSeries::new(vec![f64::NAN; 30], 3).unwrap();
    assert!(render_png(None, &all_nan, &opts).is_ok());
}

#[test]
fn bad_inputs_are_errors() {
    let g = lorenz(4, 10);
    let empty = TimeSeries::new(vec![], 3).unwrap();
    let two = TimeSeries::new(vec![0.0; 4], 2).unwrap();
    let opts = PlotOptions::default();
    assert!(matches!(
        render_png(None, &empty, &opts),
        Err(PlotError::Empty { .. })
    ));
    assert!(matches!(
        render_png(Some(&empty), &g, &opts),
        Err(PlotError::Empty { which: "true" })
    ));
    let e = render_png(Some(&two), &g, &opts).unwrap_err();
    assert!(e.to_string().contains("2 channels"), "{e}");
    for (w, h) in [(0, 100), (100_000, 900), (1200, 10)] {
        let o = PlotOptions {
            width: w,
            height: h,
            ..PlotOptions::default()
        };
        assert!(matches!(
            render_png(None, &g, &o),
            Err(PlotError::InvalidSize { .. })
        ));
    }
    let e = plot_trajectories(Path::new("/nonexistent-dir/p.png"), None, &g, &opts).unwrap_err();
    assert!(matches!(e, PlotError::Write { .. }), "{e}");
}

#[test]
fn writes_a_png_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plot.png");
    let g = lorenz(5, 1000);
    plot_trajectories(&p, Some(&g), &g, &PlotOptions::default()).unwrap();
    let img = decode(&std::fs::read(&p).unwrap());
    assert_eq!(img.dimensions(), (1200, 900));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Writes sample plots for a person to look at:
/// `PLRNN_PLOT_SAMPLE_DIR=/tmp cargo test -p plrnn-train --lib plot::tests::sample -- --ignored`.
#[test]
#[ignore]
fn sample_plots_for_inspection() {
    let dir = std::env::var_os("PLRNN_PLOT_SAMPLE_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let t = lorenz(1, 20_000);
    let g = lorenz(2, 20_000);
    let opts = PlotOptions {
        title: Some("Lorenz-63: true (blue) vs generated (orange)".into()),
        ..PlotOptions::default()
    };
    plot_trajectories(&dir.join("plrnn-sample.png"), Some(&t), &g, &opts).unwrap();
    let opts = PlotOptions {
        text: false,
        ..PlotOptions::default()
    };
    let l96 = simulate(&System::lorenz96(10), &SimOptions::default()).unwrap();
    plot_trajectories(&dir.join("plrnn-sample-notext.png"), None, &l96, &opts).unwrap();
}
