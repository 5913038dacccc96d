namespace AttentionWise.Training.Visualization;

/// <summary>Colour maps from [0, 1] to RGB.</summary>
public enum ColormapKind
{
    /// <summary>A perceptually uniform dark-blue → green → yellow ramp (viridis-like).</summary>
    Viridis,

    /// <summary>Black → white.</summary>
    Gray,

    /// <summary>Blue (negative) → white (zero) → red (positive), for signed values such as weights.</summary>
    Diverging,
}

public static class Colormap
{
    // Anchor colours of a viridis-like ramp, sampled every 1/8; colours between are interpolated.
    private static readonly (byte R, byte G, byte B)[] ViridisAnchors =
    {
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    };

    public static (byte R, byte G, byte B) Map(ColormapKind kind, double t)
    {
        if (double.IsNaN(t))
            return (255, 0, 255); // magenta marks non-finite values
        t = Math.Clamp(t, 0, 1);
        switch (kind)
        {
            case ColormapKind.Gray:
            {
                byte v = (byte)Math.Round(255 * t);
                return (v, v, v);
            }
            case ColormapKind.Diverging:
            {
                // t = 0.5 is zero: white; 0 deep blue; 1 deep red.
                double s = Math.Abs(t - 0.5) * 2;
                byte fade = (byte)Math.Round(255 * (1 - s));
                return t < 0.5 ? (fade, fade, (byte)255) : ((byte)255, fade, fade);
            }
            default:
            {
                double x = t * (ViridisAnchors.Length - 1);
                int i = Math.Min((int)x, ViridisAnchors.Length - 2);
                double f = x - i;
                var a = ViridisAnchors[i];
                var b = ViridisAnchors[i + 1];
                return (Lerp(a.R, b.R, f), Lerp(a.G, b.G, f), Lerp(a.B, b.B, f));
            }
        }
    }

    private static byte Lerp(byte a, byte b, double f) => (byte)Math.Round(a + (b - a) * f);
}
