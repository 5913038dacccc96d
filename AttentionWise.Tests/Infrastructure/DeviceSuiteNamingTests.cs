using System.Reflection;

namespace AttentionWise.Tests.Infrastructure;

/// <summary>
/// scripts/opencl runs the OpenCL suites by name: every test class whose name ends in "OpenCLTests". These
/// tests keep that filter and the suites' kinds in step, so that a new OpenCL subclass cannot be left out of
/// the OpenCL CI step, and no CPU suite is run there by mistake.
/// </summary>
public sealed class DeviceSuiteNamingTests
{
    public const string OpenCLSuffix = "OpenCLTests";

    private static DeviceKind KindOf(Type suite)
    {
        // A suite that holds something in its constructor releases it in Dispose: an instance made here is disposed too.
        var instance = Activator.CreateInstance(suite)!;
        try
        {
            var property = typeof(DeviceTest).GetProperty("Kind", BindingFlags.Instance | BindingFlags.NonPublic)!;
            return (DeviceKind)property.GetValue(instance)!;
        }
        finally
        {
            (instance as IDisposable)?.Dispose();
        }
    }

    private static List<Type> DeviceSuites() =>
        [.. typeof(DeviceTest).Assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract && typeof(DeviceTest).IsAssignableFrom(t))];

    [Fact]
    public void EveryOpenCLSuiteEndsInOpenCLTestsAndNoOtherDoes()
    {
        var suites = DeviceSuites();
        Assert.Contains(suites, t => KindOf(t) == DeviceKind.OpenCL);
        var wrong = suites
            .Where(t => (KindOf(t) == DeviceKind.OpenCL) != t.Name.EndsWith(OpenCLSuffix, StringComparison.Ordinal))
            .Select(t => $"{t.Name} (kind {KindOf(t)})")
            .ToList();
        Assert.True(wrong.Count == 0,
            $"OpenCL suites must be named *{OpenCLSuffix} and only they (scripts/opencl selects them by name): {string.Join(", ", wrong)}");
    }

    [Fact]
    public void EveryClassNamedLikeAnOpenCLSuiteIsADeviceSuite()
    {
        // The filter is FullyQualifiedName~OpenCLTests.: a class of another kind of test with that name would run
        // in the OpenCL step, and one that is not a DeviceTest would not be skipped where there is no OpenCL.
        var strays = typeof(DeviceTest).Assembly.GetTypes()
            .Where(t => t.IsClass && !t.IsAbstract && t.Name.EndsWith(OpenCLSuffix, StringComparison.Ordinal) && !typeof(DeviceTest).IsAssignableFrom(t))
            .Select(t => t.FullName)
            .ToList();
        Assert.Empty(strays);
    }
}
