using System.Reflection;
using System.Runtime.InteropServices;

namespace AttentionWise.Training;

/// <summary>Facts about this build and machine that config.json records.</summary>
internal static class RunInfo
{
    /// <summary>The AttentionWise version (assembly informational version, without build metadata).</summary>
    public static string Version
    {
        get
        {
            var v = typeof(RunInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? typeof(RunInfo).Assembly.GetName().Version?.ToString() ?? "unknown";
            int plus = v.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? v : v[..plus];
        }
    }

    /// <summary>e.g. ".NET 10.0.0".</summary>
    public static string DotNet => RuntimeInformation.FrameworkDescription;
}
