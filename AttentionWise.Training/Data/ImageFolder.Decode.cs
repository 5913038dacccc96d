using System.Diagnostics;
using System.Globalization;
using AttentionWise.Layers;
using AttentionWise.Training.IO;
using SkiaSharp;

namespace AttentionWise.Training.Data;

/// <summary>Reading image files: headers first (size, colour), then bounded decoding with SkiaSharp into planes of
/// floats in [0, 1], and writing PNGs.</summary>
public static partial class ImageFolder
{
    private readonly record struct ImageHeader(int Height, int Width, bool Gray);

    private static ImageHeader[] Headers(List<string> paths)
    {
        var headers = new ImageHeader[paths.Count];
        var errors = new string?[paths.Count];
        Parallel.For(0, paths.Count, i =>
        {
            try
            {
                headers[i] = Header(paths[i]);
            }
            catch (DatasetException e)
            {
                errors[i] = e.Message;
            }
        });
        if (errors.FirstOrDefault(e => e is not null) is string error)
            throw new DatasetException(error);
        return headers;
    }

    /// <summary>Opens the file (a regular file of at most <see cref="MaxFileBytes"/>) and reads its header only.</summary>
    private static ImageHeader Header(string path)
    {
        using var codec = OpenCodec(path);
        var info = codec.Info;
        return new ImageHeader(info.Height, info.Width, info.ColorType == SKColorType.Gray8);
    }

    private static SKCodec OpenCodec(string path)
    {
        InputFile.RequireRegular(path, m => new DatasetException(m));
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
        }
        SKCodec? codec;
        SKCodecResult result;
        try
        {
            long length = stream.Length;
            if (length == 0)
                throw new DatasetException($"{path}: the file is empty; expected a PNG or JPEG image.");
            if (length > MaxFileBytes)
                throw new DatasetException(FormattableString.Invariant($"{path}: {length:N0} bytes is more than the {MaxFileBytes:N0} an image file may have here."));
            byte[] bytes = new byte[length];
            stream.ReadExactly(bytes);
            // The codec owns the memory stream (and so the bytes) from here on.
            codec = SKCodec.Create(new SKMemoryStream(bytes), out result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DatasetException($"{path}: cannot be read: {e.Message}", e);
        }
        finally
        {
            stream.Dispose();
        }
        if (codec is null)
            throw new DatasetException($"{path}: not a PNG or JPEG image (unknown or damaged format: {result}).");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg))
        {
            var format = codec.EncodedFormat;
            codec.Dispose();
            throw new DatasetException($"{path}: a {format.ToString().ToUpperInvariant()} image; only PNG and JPEG are read.");
        }
        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1 || info.Width > MaxSide || info.Height > MaxSide || (long)info.Width * info.Height > MaxPixels)
        {
            codec.Dispose();
            throw new DatasetException(FormattableString.Invariant(
                $"{path}: its header announces {info.Height}x{info.Width} pixels; images are limited to {MaxSide} pixels a side and {MaxPixels:N0} pixels in all (refused before decoding)."));
        }
        return codec;
    }

    /// <summary>Decodes one image into <paramref name="dest"/>: planes of <paramref name="size"/>, values byte / 255.</summary>
    private static void Decode(string path, int channels, ImageSize size, bool resize, Span<float> dest)
    {
        using var codec = OpenCodec(path);
        var source = codec.Info;
        bool gray = source.ColorType == SKColorType.Gray8;
        var info = new SKImageInfo(source.Width, source.Height, gray ? SKColorType.Gray8 : SKColorType.Rgba8888, gray ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var result = codec.GetPixels(info, bitmap.GetPixels());
        if (result != SKCodecResult.Success)
        {
            string why = result switch
            {
                SKCodecResult.IncompleteInput => "truncated: the data ends before the image does",
                SKCodecResult.ErrorInInput => "corrupt: the image data is damaged",
                _ => $"cannot be decoded ({result})",
            };
            throw new DatasetException($"{path}: {why}.");
        }
        SKBitmap image = bitmap;
        SKBitmap? resized = null;
        try
        {
            if (resize && (source.Height != size.Height || source.Width != size.Width))
            {
                resized = bitmap.Resize(new SKImageInfo(size.Width, size.Height, info.ColorType, info.AlphaType),
                    new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
                    ?? throw new DatasetException($"{path}: could not be resized to {size}.");
                image = resized;
            }
            else if (source.Height != size.Height || source.Width != size.Width)
            {
                throw new DatasetException(FormattableString.Invariant($"{path}: the image is {source.Height}x{source.Width} pixels, expected {size}."));
            }
            Convert(image, gray, channels, dest);
        }
        finally
        {
            resized?.Dispose();
        }
    }

    private static void Convert(SKBitmap image, bool gray, int channels, Span<float> dest)
    {
        int h = image.Height, w = image.Width, plane = h * w;
        int stride = image.RowBytes;
        var bytes = image.GetPixelSpan();
        for (int i = 0; i < h; i++)
        {
            for (int j = 0; j < w; j++)
            {
                int o = i * w + j;
                if (gray)
                {
                    float v = bytes[i * stride + j] / 255f;
                    for (int c = 0; c < channels; c++)
                        dest[c * plane + o] = v;
                }
                else
                {
                    int p = i * stride + 4 * j;
                    byte r = bytes[p], g = bytes[p + 1], b = bytes[p + 2];
                    if (channels == 3)
                    {
                        dest[o] = r / 255f;
                        dest[plane + o] = g / 255f;
                        dest[2 * plane + o] = b / 255f;
                    }
                    else
                    {
                        // ITU-R BT.601 luma, rounded to a byte as a grayscale file would hold it.
                        dest[o] = (byte)Math.Round(0.299 * r + 0.587 * g + 0.114 * b) / 255f;
                    }
                }
            }
        }
    }

    /// <summary>Writes an image as PNG (tests and tools): <paramref name="planes"/> is C×H×W bytes, C 1 or 3.</summary>
    public static void WritePng(string path, int channels, int height, int width, ReadOnlySpan<byte> planes)
    {
        if (channels is not (1 or 3) || planes.Length != channels * height * width)
            throw new ArgumentException($"{channels}x{height}x{width} needs {channels * height * width} bytes, not {planes.Length}.", nameof(planes));
        var info = new SKImageInfo(width, height, channels == 1 ? SKColorType.Gray8 : SKColorType.Rgba8888, channels == 1 ? SKAlphaType.Opaque : SKAlphaType.Unpremul);
        using var bitmap = new SKBitmap(info);
        var span = bitmap.GetPixelSpan();
        int plane = height * width, stride = bitmap.RowBytes;
        for (int i = 0; i < height; i++)
        {
            for (int j = 0; j < width; j++)
            {
                int o = i * width + j;
                if (channels == 1)
                {
                    span[i * stride + j] = planes[o];
                }
                else
                {
                    int p = i * stride + 4 * j;
                    span[p] = planes[o];
                    span[p + 1] = planes[plane + o];
                    span[p + 2] = planes[2 * plane + o];
                    span[p + 3] = 255;
                }
            }
        }
        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        using var file = File.Create(path);
        data.SaveTo(file);
    }
}
