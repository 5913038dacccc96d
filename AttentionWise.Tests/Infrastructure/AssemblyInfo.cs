// One device of each kind is shared by all tests, and the cpu device's launcher already uses every core: running
// test classes in parallel would only make them contend.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
