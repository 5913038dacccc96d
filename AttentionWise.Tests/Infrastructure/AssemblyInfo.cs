// One accelerator is shared by all tests of a device kind, and the compatibility layer's executor already
// uses every core: running test classes in parallel would only make them contend.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
