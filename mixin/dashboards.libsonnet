// The dashboards (grafanaDashboards): dashboards/generate.py's JSON, imported as it is (JSON is Jsonnet).
{
  grafanaDashboards+:: {
    'avepoint-customer.json': import '../dashboards/avepoint-customer.json',
    'avepoint-exporter.json': import '../dashboards/avepoint-exporter.json',
    'avepoint-fleet.json': import '../dashboards/avepoint-fleet.json',
    'avepoint-report.json': import '../dashboards/avepoint-report.json',
  },
}
