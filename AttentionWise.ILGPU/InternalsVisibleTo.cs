// The tests reach the kernel sets, plans and ops directly, and pass each variant (ConvolutionOptions) explicitly so that
// every variant is checked against the reference whatever the backend would choose for the test shapes.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("AttentionWise.Tests")]
// The benchmarks and the performance model time and record kernel sets and launch plans directly.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("AttentionWise.Bench")]
// ILGPU's runtime assembly (the launchers it emits) reads the internal kernel geometry structs passed to kernels.
[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ILGPURuntime")]
