// Package charttest holds the tests of the cleanframe Helm chart in
// deploy/helm/cleanframe. It has no code of its own: the tests render the
// chart with the Helm v4 SDK, decode every manifest strictly into Kubernetes
// API types and lint the chart, so CI needs no helm binary.
package charttest
