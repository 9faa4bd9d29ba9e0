use super::*;

fn pts(values: &[(i64, Value)]) -> Vec<Point> {
    values.iter().enumerate().map(|(row, (time, value))| Point { time: *time, value: value.clone(), row }).collect()
}

fn floats(values: &[f64]) -> Vec<Point> {
    let pairs: Vec<(i64, Value)> = values.iter().enumerate().map(|(i, v)| (i as i64 * 10, Value::Float(*v))).collect();
    pts(&pairs)
}

fn series(values: &[f64]) -> Vec<(i64, Value)> {
    values.iter().enumerate().map(|(i, v)| (i as i64 * 10, Value::Float(*v))).collect()
}

fn one(agg: &Aggregate, points: &[Point]) -> Option<Value> {
    let out = aggregate(agg, points).unwrap();
    assert!(out.len() <= 1, "{agg:?} gave {out:?}");
    out.into_iter().next().and_then(|s| s.value)
}

fn outputs(t: &Transform, points: &[(i64, Value)]) -> Vec<f64> {
    transform(t, points).unwrap().into_iter().map(|(_, v)| v.as_f64().unwrap()).collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-9, "{got:?} vs {want:?}");
    }
}

#[test]
fn count_is_an_integer_and_mean_a_float_whatever_the_input() {
    let ints = pts(&[(0, Value::Integer(1)), (1, Value::Integer(2))]);
    assert_eq!(one(&Aggregate::Count, &ints), Some(Value::Integer(2)));
    assert_eq!(one(&Aggregate::Mean, &ints), Some(Value::Float(1.5)));
    assert_eq!(one(&Aggregate::Sum, &ints), Some(Value::Integer(3)));
    assert_eq!(one(&Aggregate::Spread, &ints), Some(Value::Integer(1)));
    assert_eq!(one(&Aggregate::Median, &ints), Some(Value::Float(1.5)));
    let strings = pts(&[(0, Value::String("a".into()))]);
    assert_eq!(one(&Aggregate::Count, &strings), Some(Value::Integer(1)));
    assert_eq!(
        aggregate(&Aggregate::Mean, &strings).unwrap_err().to_string(),
        "unsupported mean iterator type: string"
    );
}

#[test]
fn integer_sums_wrap_like_go() {
    let ints = pts(&[(0, Value::Integer(i64::MAX)), (1, Value::Integer(1))]);
    assert_eq!(one(&Aggregate::Sum, &ints), Some(Value::Integer(i64::MIN)));
}

#[test]
fn selectors_return_the_point_and_break_ties_like_1x() {
    let points =
        pts(&[(10, Value::Float(3.0)), (20, Value::Float(5.0)), (30, Value::Float(5.0)), (40, Value::Float(1.0))]);
    let max = aggregate(&Aggregate::Max, &points).unwrap();
    assert_eq!(max, vec![Selected { time: Some(20), value: Some(Value::Float(5.0)), row: Some(1) }]);
    let min = aggregate(&Aggregate::Min, &points).unwrap();
    assert_eq!(min[0].time, Some(40));
    assert_eq!(aggregate(&Aggregate::First, &points).unwrap()[0].time, Some(10));
    assert_eq!(aggregate(&Aggregate::Last, &points).unwrap()[0].time, Some(40));
    // Two points at one time: first and last take the greater value.
    let tied = pts(&[(10, Value::Float(1.0)), (10, Value::Float(2.0))]);
    assert_eq!(one(&Aggregate::First, &tied), Some(Value::Float(2.0)));
    assert_eq!(one(&Aggregate::Last, &tied), Some(Value::Float(2.0)));
    let strings = pts(&[(0, Value::String("a".into()))]);
    assert!(aggregate(&Aggregate::Max, &strings).is_err());
    assert_eq!(one(&Aggregate::First, &strings), Some(Value::String("a".into())));
}

#[test]
fn percentile_is_nearest_rank_and_nothing_outside() {
    let points = floats(&[5.0, 1.0, 4.0, 2.0, 3.0]);
    assert_eq!(one(&Aggregate::Percentile(50.0), &points), Some(Value::Float(3.0)));
    assert_eq!(one(&Aggregate::Percentile(100.0), &points), Some(Value::Float(5.0)));
    assert_eq!(one(&Aggregate::Percentile(20.0), &points), Some(Value::Float(1.0)));
    // floor(5 * 0.05 + 0.5) - 1 = -1: below the first point.
    assert_eq!(aggregate(&Aggregate::Percentile(5.0), &points).unwrap(), vec![]);
    let chosen = aggregate(&Aggregate::Percentile(50.0), &points).unwrap();
    assert_eq!(chosen[0].time, Some(40));
}

#[test]
fn median_averages_the_middle_pair() {
    assert_eq!(one(&Aggregate::Median, &floats(&[4.0, 1.0, 3.0, 2.0])), Some(Value::Float(2.5)));
    assert_eq!(one(&Aggregate::Median, &floats(&[7.0])), Some(Value::Float(7.0)));
}

#[test]
fn mode_prefers_the_most_frequent_then_the_smallest_once_seen() {
    let s = |v: &str| Value::String(v.into());
    let points = pts(&[(0, s("mid")), (1, s("low")), (2, s("low")), (3, s("high"))]);
    assert_eq!(one(&Aggregate::Mode, &points), Some(s("low")));
    // All seen once: the smallest value.
    assert_eq!(one(&Aggregate::Mode, &floats(&[3.0, 1.0, 2.0])), Some(Value::Float(1.0)));
    // Equally frequent: the value whose run started earliest.
    assert_eq!(one(&Aggregate::Mode, &floats(&[9.0, 9.0, 1.0, 1.0])), Some(Value::Float(9.0)));
    assert_eq!(one(&Aggregate::Mode, &floats(&[1.0, 1.0, 9.0, 9.0])), Some(Value::Float(1.0)));
}

#[test]
fn stddev_is_the_sample_deviation_and_undefined_for_one_point() {
    let got = one(&Aggregate::Stddev, &floats(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])).unwrap();
    assert_close(&[got.as_f64().unwrap()], &[2.138_089_935_299_395]);
    assert_eq!(one(&Aggregate::Stddev, &floats(&[1.0])), None);
}

#[test]
fn distinct_keeps_first_appearance_order() {
    let s = |v: &str| Value::String(v.into());
    let points = pts(&[(0, s("low")), (1, s("mid")), (2, s("low")), (3, s("high"))]);
    let values: Vec<Value> =
        aggregate(&Aggregate::Distinct, &points).unwrap().into_iter().filter_map(|s| s.value).collect();
    assert_eq!(values, vec![s("low"), s("mid"), s("high")]);
}

#[test]
fn integral_is_the_trapezium_area_per_unit() {
    // Rising from 0 to 10 over 10 s (50), then flat at 10 for 10 s (100).
    let points =
        pts(&[(0, Value::Float(0.0)), (10_000_000_000, Value::Float(10.0)), (20_000_000_000, Value::Float(10.0))]);
    assert_eq!(one(&Aggregate::Integral { unit: 1_000_000_000 }, &points), Some(Value::Float(150.0)));
    assert_eq!(one(&Aggregate::Integral { unit: 10_000_000_000 }, &points), Some(Value::Float(15.0)));
}

#[test]
fn integral_across_windows_interpolates_at_the_edges() {
    // Points at 5 and 15 (value 0 and 10), windows of 10: the line crosses
    // the edge at 10 with value 5.
    let points = pts(&[(5, Value::Float(0.0)), (15, Value::Float(10.0))]);
    let window_of = |t: i64| (t.div_euclid(10) * 10, t.div_euclid(10) * 10 + 10);
    let areas = integral_windows(&points, 1, &window_of).unwrap();
    assert_eq!(areas, vec![(0, 12.5), (10, 37.5)]);
}

#[test]
fn top_and_bottom_come_back_in_time_order() {
    let points = floats(&[1.0, 9.0, 3.0, 9.0, 7.0]);
    let top: Vec<(Option<i64>, Option<Value>)> =
        top_bottom(&points, 3, false, None).unwrap().into_iter().map(|s| (s.time, s.value)).collect();
    assert_eq!(
        top,
        vec![
            (Some(10), Some(Value::Float(9.0))),
            (Some(30), Some(Value::Float(9.0))),
            (Some(40), Some(Value::Float(7.0)))
        ]
    );
    let bottom = top_bottom(&points, 1, true, None).unwrap();
    assert_eq!(bottom[0].time, Some(0));
}

#[test]
fn top_with_tags_takes_one_point_per_tag_set() {
    let points = floats(&[1.0, 9.0, 3.0, 8.0]);
    // Rows 0 and 1 are host a, rows 2 and 3 host b.
    let key = |row: usize| if row < 2 { "a".to_owned() } else { "b".to_owned() };
    let top = top_bottom(&points, 2, false, Some(&key)).unwrap();
    let values: Vec<Value> = top.into_iter().filter_map(|s| s.value).collect();
    assert_eq!(values, vec![Value::Float(9.0), Value::Float(8.0)]);
}

#[test]
fn sample_returns_distinct_points_in_time_order() {
    let points = floats(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let sample = aggregate(&Aggregate::Sample(3), &points).unwrap();
    assert_eq!(sample.len(), 3);
    let times: Vec<i64> = sample.iter().filter_map(|s| s.time).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    assert_eq!(aggregate(&Aggregate::Sample(10), &points).unwrap().len(), 6);
}

#[test]
fn derivative_is_change_per_unit_and_skips_repeated_times() {
    let points =
        vec![(0, Value::Float(0.0)), (10, Value::Float(5.0)), (10, Value::Float(99.0)), (20, Value::Float(2.0))];
    assert_close(&outputs(&Transform::Derivative { unit: 10, non_negative: false }, &points), &[5.0, -3.0]);
    assert_close(&outputs(&Transform::Derivative { unit: 10, non_negative: true }, &points), &[5.0]);
}

#[test]
fn difference_keeps_integers() {
    let points = vec![(0, Value::Integer(5)), (1, Value::Integer(3)), (2, Value::Integer(10))];
    let out = transform(&Transform::Difference { non_negative: false }, &points).unwrap();
    assert_eq!(out, vec![(1, Value::Integer(-2)), (2, Value::Integer(7))]);
    let out = transform(&Transform::Difference { non_negative: true }, &points).unwrap();
    assert_eq!(out, vec![(2, Value::Integer(7))]);
    let out = transform(&Transform::CumulativeSum, &points).unwrap();
    assert_eq!(out, vec![(0, Value::Integer(5)), (1, Value::Integer(8)), (2, Value::Integer(18))]);
}

#[test]
fn moving_average_starts_once_the_window_is_full() {
    assert_close(&outputs(&Transform::MovingAverage(3), &series(&[1.0, 2.0, 3.0, 4.0, 8.0])), &[2.0, 3.0, 5.0]);
}

#[test]
fn elapsed_counts_whole_units_between_points() {
    let points = vec![(0, Value::String("x".into())), (25, Value::Boolean(true)), (60, Value::Float(1.0))];
    let out = transform(&Transform::Elapsed { unit: 10 }, &points).unwrap();
    assert_eq!(out, vec![(25, Value::Integer(2)), (60, Value::Integer(3))]);
}

#[test]
fn exponential_moving_average_holds_back_its_warmup() {
    let t = Transform::ExponentialMovingAverage { period: 2, hold_period: None, warmup: Warmup::Exponential };
    // Warmup: 1; then alpha = 2/3 (count 1 scales to 2/3 as well).
    assert_close(&outputs(&t, &series(&[1.0, 4.0, 1.0])), &[3.0, 5.0 / 3.0]);
    let simple = Transform::ExponentialMovingAverage { period: 3, hold_period: Some(0), warmup: Warmup::Simple };
    assert_close(&outputs(&simple, &series(&[3.0, 6.0, 9.0, 9.0])), &[3.0, 4.5, 6.0, 7.5]);
}

#[test]
fn relative_strength_index_is_100_on_gains_only() {
    let t = Transform::RelativeStrengthIndex { period: 2, hold_period: Some(0), warmup: Warmup::Exponential };
    let out = outputs(&t, &series(&[1.0, 2.0, 3.0]));
    assert_close(&out, &[100.0, 100.0, 100.0]);
}

#[test]
fn chande_momentum_oscillator_without_warmup_uses_recent_changes() {
    let t = Transform::ChandeMomentumOscillator { period: 3, hold_period: Some(0), warmup: Warmup::None };
    // Changes: +1, +1, -2 over a window of two changes.
    assert_close(&outputs(&t, &series(&[1.0, 2.0, 3.0, 1.0])), &[0.0, 100.0, 100.0, 0.0]);
}

#[test]
fn kaufmans_efficiency_ratio_is_one_on_a_straight_line() {
    let t = Transform::KaufmansEfficiencyRatio { period: 2, hold_period: None };
    assert_close(&outputs(&t, &series(&[1.0, 2.0, 3.0, 4.0])), &[1.0, 1.0]);
}

#[test]
fn math_keeps_integers_where_1x_does() {
    assert_eq!(math("abs", &[Some(Value::Integer(-3))]).unwrap(), Some(Value::Integer(3)));
    assert_eq!(math("sqrt", &[Some(Value::Integer(16))]).unwrap(), Some(Value::Float(4.0)));
    assert_eq!(math("pow", &[Some(Value::Float(2.0)), Some(Value::Integer(10))]).unwrap(), Some(Value::Float(1024.0)));
    assert_eq!(math("sqrt", &[Some(Value::Float(-1.0))]).unwrap(), None);
    assert_eq!(math("ln", &[None]).unwrap(), None);
    assert!(math("pow", &[Some(Value::Float(2.0))]).is_err());
}

#[test]
fn arithmetic_follows_1x_types() {
    let i = |v| Some(Value::Integer(v));
    assert_eq!(binary(BinaryOp::Div, i(7).as_ref(), i(2).as_ref()), Some(Value::Float(3.5)));
    assert_eq!(binary(BinaryOp::Div, i(7).as_ref(), i(0).as_ref()), Some(Value::Float(0.0)));
    assert_eq!(binary(BinaryOp::Add, i(7).as_ref(), Some(Value::Float(0.5)).as_ref()), Some(Value::Float(7.5)));
    assert_eq!(binary(BinaryOp::BitAnd, i(6).as_ref(), i(3).as_ref()), Some(Value::Integer(2)));
    assert_eq!(binary(BinaryOp::BitAnd, Some(Value::Float(6.0)).as_ref(), i(3).as_ref()), None);
    assert_eq!(binary(BinaryOp::Add, i(1).as_ref(), None), None);
    assert_eq!(binary(BinaryOp::Add, Some(Value::String("a".into())).as_ref(), i(1).as_ref()), None);
}
