// One device of each kind is shared by all tests, and the cpu device's launcher already uses every core: running
// test classes in parallel would only make them contend. xunit.runner.json says the same for `dotnet test`, whose
// VSTest adapter does not read this attribute.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
