#include "engine/metrics.h"

#include <gtest/gtest.h>

#include "engine/logging.h"

namespace clawvisor {
namespace {

// Counters, gauges and histograms render in the Prometheus text format with HELP and TYPE.
TEST(MetricsTest, RendersPrometheusText) {
  MetricsRegistry r;
  r.GetCounter("x_total", "Things.", {{"kind", "a"}}).Inc(3);
  r.GetGauge("y", "Level.").Set(-2);
  r.GetHistogram("z_seconds", "Latency.").Observe(0.003);
  const std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("# HELP x_total Things.\n# TYPE x_total counter\nx_total{kind=\"a\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("y -2\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{le=\"0.0025\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("z_seconds_count 1\n"), std::string::npos);
}

// Label values are escaped so a quote or newline cannot break the exposition format.
TEST(MetricsTest, EscapesLabelValues) {
  MetricsRegistry r;
  r.GetCounter("e_total", "E.", {{"v", "a\"b\nc"}}).Inc();
  EXPECT_NE(r.RenderPrometheus().find("e_total{v=\"a\\\"b\\nc\"} 1"), std::string::npos);
}

// JSON escaping handles quotes, control characters and invalid UTF-8.
TEST(LoggingTest, EscapesJson) {
  std::string out;
  AppendJsonEscaped(out, "a\"b\\c\n\x01 \xC3\xA9 \xff");
  EXPECT_EQ(out, "a\\\"b\\\\c\\u000a\\u0001 \xC3\xA9 \xEF\xBF\xBD");
}

}  // namespace
}  // namespace clawvisor
