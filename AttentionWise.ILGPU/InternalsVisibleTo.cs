// The tests force each register-tile variant of the convolution kernels (ConvPlan), so that every variant is
// checked against the reference whatever the host would choose for the test shapes.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("AttentionWise.Tests")]
// The benchmarks and the performance model time and record kernel sets and launch plans directly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("AttentionWise.Bench")]
